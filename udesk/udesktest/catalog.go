package udesktest

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Custom field content types (spec: 数据结构-工单自定义字段).
const (
	ctText     = "text"
	ctAreaText = "area_text"
	ctDate     = "date"
	ctTime     = "time"
	ctDatetime = "datetime"
	ctLink     = "link"
	ctNumber   = "number"
	ctNumeric  = "numeric"
	ctDroplist = "droplist"
	ctCheckbox = "checkbox"
	ctRadio    = "radio"
	ctChained  = "chained_droplist"
)

type field struct {
	name, label, ctype string
	options            []string // select fields: labels by index
	rawOptions         string   // chained field: served verbatim
	comment            string   // "" is served as null
	permission         int
	required           bool
}

// catalog is the spec's example catalog, field for field, plus the chained
// field the spec warns about (its options are deliberately not in the
// [{"index":"label"}] form), last.
var catalog = []field{
	{name: "TextField_1", label: "单行文本字段", ctype: ctText, permission: 2},
	{name: "TextField_2", label: "多行文本字段", ctype: ctAreaText, permission: 2},
	{name: "TextField_3", label: "日期字段", ctype: ctDate, permission: 2},
	{name: "TextField_4", label: "时间字段", ctype: ctTime, permission: 2},
	{name: "TextField_5", label: "日期时间字段", ctype: ctDatetime, permission: 2},
	{name: "TextField_6", label: "链接字段", ctype: ctLink, permission: 2},
	{name: "TextField_7", label: "正整数字段", ctype: ctNumber, permission: 2},
	{name: "TextField_8", label: "数值字段", ctype: ctNumeric, permission: 2},
	{name: "SelectField_1", label: "下拉列表字段", ctype: ctDroplist, permission: 2, required: true,
		options: []string{"下拉选项1", "下拉选项2", "下拉选项3"}},
	{name: "SelectField_2", label: "单选框字段", ctype: ctRadio, permission: 2, required: true,
		options: []string{"单选框选项1", "单选框选项2"}},
	{name: "SelectField_3", label: "多选框字段", ctype: ctCheckbox, permission: 2,
		options: []string{"多选框选项1", "多选框选项2", "多选框选项3", "多选框选项4"}},
	{name: "SelectField_4", label: "级联字段", ctype: ctChained, permission: 0,
		comment:    "级联字段: 接口返回的 options 格式不正确",
		rawOptions: `[{"0":{"北京":[{"0":"朝阳区"},{"1":"海淀区"}]}},{"1":{"上海":[{"0":"浦东新区"}]}},["广东",["广州","深圳"]]]`},
}

// fieldByName finds a field of fields by its field_name.
func fieldByName(fields []field, name string) *field {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i]
		}
	}
	return nil
}

// catalogJSON writes the array of ticket_fields in wire form, indented like
// the spec's example (it is served inside the reply and written to samples/).
func catalogJSON(fields []field) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i, f := range fields {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n    {\n      \"field_name\": ")
		b.Write(appendString(nil, f.name))
		b.WriteString(",\n      \"field_label\": ")
		b.Write(appendString(nil, f.label))
		b.WriteString(",\n      \"content_type\": ")
		b.Write(appendString(nil, f.ctype))
		b.WriteString(",\n      \"comment\": ")
		if f.comment == "" {
			b.WriteString("null")
		} else {
			b.Write(appendString(nil, f.comment))
		}
		b.WriteString(",\n      \"options\": ")
		switch {
		case f.rawOptions != "":
			b.WriteString(f.rawOptions)
		case f.options == nil:
			b.WriteString("null")
		default:
			b.WriteString("[")
			for k, o := range f.options {
				if k > 0 {
					b.WriteString(",")
				}
				b.WriteString("\n        {")
				b.Write(appendString(nil, strconv.Itoa(k)))
				b.WriteString(": ")
				b.Write(appendString(nil, o))
				b.WriteString("}")
			}
			b.WriteString("\n      ]")
		}
		b.WriteString(",\n      \"permission\": ")
		b.WriteString(strconv.Itoa(f.permission))
		b.WriteString(",\n      \"requirment\": ")
		b.WriteString(strconv.FormatBool(f.required))
		b.WriteString("\n    }")
	}
	b.WriteString("\n  ]")
	if !json.Valid(b.Bytes()) {
		panic("udesktest: catalog JSON is invalid")
	}
	return b.Bytes()
}

// FieldsReply is the body GET /api/v2/ticket_fields.json answers before any
// field was changed; it is what samples/fields.json holds.
func FieldsReply() []byte { return fieldsReply(catalog) }

func fieldsReply(fields []field) []byte {
	var b bytes.Buffer
	b.WriteString("{\n  \"status\": 0,\n  \"message\": \"success\",\n  \"ticket_fields\": ")
	b.Write(catalogJSON(fields))
	b.WriteString("\n}\n")
	return b.Bytes()
}
