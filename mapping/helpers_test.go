package mapping

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk"
)

func opts(labels ...string) []udesk.Option {
	out := make([]udesk.Option, len(labels))
	for i, l := range labels {
		out[i] = udesk.Option{Index: itoa(i), Label: l}
	}
	return out
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// specFields is the spec's sample catalog plus a chained field.
func specFields() []udesk.Field {
	return []udesk.Field{
		{Name: "TextField_1", Label: "单行文本字段", ContentType: "text", Permission: 2},
		{Name: "TextField_2", Label: "多行文本字段", ContentType: "area_text", Permission: 2},
		{Name: "TextField_3", Label: "日期字段", ContentType: "date", Permission: 2},
		{Name: "TextField_4", Label: "时间字段", ContentType: "time", Permission: 2},
		{Name: "TextField_5", Label: "日期时间字段", ContentType: "datetime", Permission: 2},
		{Name: "TextField_6", Label: "链接字段", ContentType: "link", Permission: 2},
		{Name: "TextField_7", Label: "正整数字段", ContentType: "number", Permission: 2},
		{Name: "TextField_8", Label: "数值字段", ContentType: "numeric", Permission: 2},
		{Name: "SelectField_1", Label: "下拉列表字段", ContentType: "droplist", Permission: 2, Required: true,
			Options: opts("下拉选项1", "下拉选项2", "下拉选项3")},
		{Name: "SelectField_2", Label: "单选框字段", ContentType: "radio", Permission: 2, Required: true,
			Options: opts("单选框选项1", "单选框选项2")},
		{Name: "SelectField_3", Label: "多选框字段", ContentType: "checkbox", Permission: 2,
			Options: opts("多选框选项1", "多选框选项2", "多选框选项3", "多选框选项4")},
		{Name: "SelectField_4", Label: "级联字段", ContentType: "chained_droplist", Permission: 2,
			RawOptions: json.RawMessage(`[{"0":{"a":"b"}}]`)},
	}
}

func specCatalog() *Catalog { return NewCatalog(specFields()) }

// wantErr fails unless err is non-nil and its text holds every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}
