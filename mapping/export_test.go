package mapping

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// specTicket is the spec's sample ticket.
func specTicket() *udesk.Ticket {
	return &udesk.Ticket{
		ID: 1, Subject: "演示工单", Content: "这是您的第一个工单", ContentType: "text", Platform: "邮件",
		Priority: "紧急", Status: "solving", User: "测试客户", UserEmail: "test@sample.com",
		Assignee: "测试客服", AssigneeID: 1, UserGroupID: 1, UserGroupName: "售后1组", RepliedBy: "agent_1",
		CustomFields: udesk.CustomFields{
			"TextField_1": "普通文本内容", "TextField_2": "多行文本内容1\r\n多行文本内容2",
			"TextField_3": "2016-08-11", "TextField_4": "14:44:36", "TextField_5": "2017-05-03 14:44",
			"TextField_6": "https://www.sample.com", "TextField_7": "13", "TextField_8": "13.33",
			"SelectField_1": "0", "SelectField_2": "0", "SelectField_3": "0,3", "SelectField_4": "0,0,0",
		},
		CreatedAt: "2016-07-28 20:44:08 +0800", UpdatedAt: "2017-05-04 14:26:18 +0800",
	}
}

func TestExporterSchema(t *testing.T) {
	e := NewExporter(specCatalog(), ExportOptions{})
	s := e.Schema()
	var names, fields []string
	for _, c := range s.Columns {
		names = append(names, c.Name)
		fields = append(fields, c.Field)
	}
	wantNames := "id subject content content_type platform priority status user user_email user_cellphone assignee " +
		"assignee_id user_group_id user_group_name solving_at replied_by created_at updated_at " +
		"单行文本字段 多行文本字段 日期字段 时间字段 日期时间字段 链接字段 正整数字段 数值字段 下拉列表字段 单选框字段 多选框字段 级联字段"
	if got := strings.Join(names, " "); got != wantNames {
		t.Errorf("names:\n got %s\nwant %s", got, wantNames)
	}
	if fields[18] != "TextField_1" || fields[29] != "SelectField_4" {
		t.Errorf("fields: %v", fields)
	}
	kinds := map[string]pipeline.Kind{"id": pipeline.Int64, "assignee_id": pipeline.Int64, "created_at": pipeline.Timestamp,
		"solving_at": pipeline.Timestamp, "TextField_3": pipeline.Date, "TextField_4": pipeline.TimeOfDay,
		"TextField_5": pipeline.Timestamp, "TextField_7": pipeline.Int64, "TextField_8": pipeline.Float64,
		"SelectField_1": pipeline.String, "SelectField_3": pipeline.StringList, "SelectField_4": pipeline.String,
		"TextField_2": pipeline.String, "status": pipeline.String}
	readOnly := map[string]bool{"id": true, "content_type": true, "platform": true, "user": true, "user_email": true,
		"user_cellphone": true, "assignee": true, "solving_at": true, "replied_by": true, "created_at": true, "updated_at": true}
	for _, c := range s.Columns {
		if k, ok := kinds[c.Field]; ok && c.Kind != k {
			t.Errorf("%s: kind %v, want %v", c.Field, c.Kind, k)
		}
		if c.ReadOnly != readOnly[c.Field] {
			t.Errorf("%s: ReadOnly %v", c.Field, c.ReadOnly)
		}
		var want []string
		switch c.Field {
		case "status":
			want = []string{"open", "solving", "resolved", "closed"}
		case "priority":
			want = []string{"紧急", "高", "标准", "低"}
		case "SelectField_1":
			want = []string{"下拉选项1", "下拉选项2", "下拉选项3"}
		case "SelectField_2":
			want = []string{"单选框选项1", "单选框选项2"}
		case "SelectField_3":
			want = []string{"多选框选项1", "多选框选项2", "多选框选项3", "多选框选项4"}
		}
		if !reflect.DeepEqual(c.Options, want) {
			t.Errorf("%s: options %q, want %q", c.Field, c.Options, want)
		}
	}
	// The catalog recorded in the metadata reads back as the same fields.
	got, err := udesk.ReadFields(strings.NewReader(s.Meta[MetaCatalog]))
	if err != nil || len(got) != 12 || got[10].Options[3].Label != "多选框选项4" || string(got[11].RawOptions) != `[{"0":{"a":"b"}}]` {
		t.Errorf("meta catalog: %v %+v", err, got)
	}
	if ns := NewExporter(specCatalog(), ExportOptions{Headers: HeadersNames}).Schema(); ns.Columns[18].Name != "TextField_1" {
		t.Errorf("names header: %q", ns.Columns[18].Name)
	}
}

// Labels that would make two columns share a header fall back to field_name.
func TestExporterHeaderCollisions(t *testing.T) {
	cat := NewCatalog([]udesk.Field{
		{Name: "TextField_1", Label: "Same", ContentType: "text"},
		{Name: "TextField_2", Label: "same ", ContentType: "text"},
		{Name: "TextField_3", Label: "Status", ContentType: "text"},
		{Name: "TextField_4", Label: "", ContentType: "text"},
		{Name: "TextField_5", Label: "TextField_6", ContentType: "text"},
		{Name: "TextField_6", Label: "Fine", ContentType: "text"},
		{Name: "TextField_7", Label: "textfield_7", ContentType: "text"},
	})
	var got []string
	for _, c := range NewExporter(cat, ExportOptions{}).Schema().Columns[18:] {
		got = append(got, c.Name)
	}
	want := []string{"TextField_1", "TextField_2", "TextField_3", "TextField_4", "TextField_5", "Fine", "textfield_7"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("headers %q, want %q", got, want)
	}
}

func TestExporterRow(t *testing.T) {
	e := NewExporter(specCatalog(), ExportOptions{})
	r := e.Row(specTicket())
	if r.Raw != nil {
		t.Errorf("raw: %v", r.Raw)
	}
	cst := APIZone
	want := []any{int64(1), "演示工单", "这是您的第一个工单", "text", "邮件", "紧急", "solving", "测试客户", "test@sample.com", nil,
		"测试客服", int64(1), int64(1), "售后1组", nil, "agent_1",
		time.Date(2016, 7, 28, 20, 44, 8, 0, cst), time.Date(2017, 5, 4, 14, 26, 18, 0, cst),
		"普通文本内容", "多行文本内容1\r\n多行文本内容2", time.Date(2016, 8, 11, 0, 0, 0, 0, time.UTC), "14:44:36",
		time.Date(2017, 5, 3, 14, 44, 0, 0, cst), "https://www.sample.com", int64(13), 13.33,
		"下拉选项1", "单选框选项1", []string{"多选框选项1", "多选框选项4"}, "0,0,0"}
	checkRow(t, e, r, want)
	for _, i := range []int{16, 17, 22} {
		if _, off := r.Values[i].(time.Time).Zone(); off != 8*3600 {
			t.Errorf("column %d: offset %d, want +0800", i, off)
		}
	}
	// With indexes, select columns hold option indexes.
	ei := NewExporter(specCatalog(), ExportOptions{SelectValues: SelectIndexes})
	ri := ei.Row(specTicket())
	if ri.Values[26] != "0" || !reflect.DeepEqual(ri.Values[28], []string{"0", "3"}) || ri.Raw != nil {
		t.Errorf("indexes: %v %v raw %v", ri.Values[26], ri.Values[28], ri.Raw)
	}
	if got := ei.Schema().Columns[28].Options; !reflect.DeepEqual(got, []string{"0", "1", "2", "3"}) {
		t.Errorf("index options: %q", got)
	}
}

func checkRow(t *testing.T, e *Exporter, r pipeline.Row, want []any) {
	t.Helper()
	if len(r.Values) != len(want) {
		t.Fatalf("%d values, want %d", len(r.Values), len(want))
	}
	for i, w := range want {
		g := r.Values[i]
		if gt, ok := g.(time.Time); ok {
			if wt, ok := w.(time.Time); !ok || !gt.Equal(wt) {
				t.Errorf("%s: %v, want %v", e.Schema().Columns[i].Field, g, w)
			}
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: %#v, want %#v", e.Schema().Columns[i].Field, g, w)
		}
	}
}

// Wire values that do not fit their column go to Raw, verbatim; the row is
// never lost. Other spellings the API might use are still read.
func TestExporterMisfits(t *testing.T) {
	e := NewExporter(specCatalog(), ExportOptions{})
	tk := &udesk.Ticket{ID: 7, CreatedAt: "yesterday", UpdatedAt: "2017-05-04T06:26:18Z", SolvingAt: "2017-05-04 14:26:18",
		CustomFields: udesk.CustomFields{
			"TextField_3": "2016-02-30", "TextField_4": "25:00", "TextField_5": "soon",
			"TextField_7": "abc", "TextField_8": "NaN", "SelectField_1": "9", "SelectField_2": "下拉",
			"SelectField_3": "0,8", "TextField_6": "not a link", "Unknown_1": "dropped",
		}}
	r := e.Row(tk)
	wantRaw := map[int]string{17 - 1: "yesterday", 20: "2016-02-30", 21: "25:00", 22: "soon", 24: "abc", 25: "NaN",
		26: "9", 27: "下拉", 28: "0,8"}
	if !reflect.DeepEqual(r.Raw, wantRaw) {
		t.Errorf("raw %v,\nwant %v", r.Raw, wantRaw)
	}
	for i := range wantRaw {
		if r.Values[i] != nil {
			t.Errorf("column %d: value %v with a raw", i, r.Values[i])
		}
	}
	if r.Values[23] != "not a link" { // links are not checked on export
		t.Errorf("link: %v", r.Values[23])
	}
	if u := r.Values[17].(time.Time); !u.Equal(time.Date(2017, 5, 4, 14, 26, 18, 0, APIZone)) {
		t.Errorf("updated_at: %v", u)
	}
	if s := r.Values[14].(time.Time); !s.Equal(time.Date(2017, 5, 4, 14, 26, 18, 0, APIZone)) {
		t.Errorf("solving_at without offset: %v", s)
	}
	if r.Values[11] != nil || r.Values[12] != nil { // null ids
		t.Errorf("null ids: %v %v", r.Values[11], r.Values[12])
	}
	// Other spellings: seconds on a datetime field, a short time, a date at midnight.
	r = e.Row(&udesk.Ticket{CustomFields: udesk.CustomFields{"TextField_3": "2016-08-11 00:00:00", "TextField_4": "9:05", "TextField_5": "2017-05-03 14:44:36"}})
	if r.Raw != nil || r.Values[21] != "09:05:00" || !r.Values[20].(time.Time).Equal(time.Date(2016, 8, 11, 0, 0, 0, 0, time.UTC)) ||
		!r.Values[22].(time.Time).Equal(time.Date(2017, 5, 3, 14, 44, 36, 0, APIZone)) {
		t.Errorf("spellings: %v raw %v", r.Values[20:23], r.Raw)
	}
}

func BenchmarkExporterRow(b *testing.B) {
	e := NewExporter(specCatalog(), ExportOptions{})
	tk := specTicket()
	b.ReportAllocs()
	for b.Loop() {
		e.Row(tk)
	}
}
