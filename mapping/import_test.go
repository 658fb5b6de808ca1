package mapping

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

func rec(row int, cells ...string) pipeline.Record {
	return pipeline.Record{Pos: pipeline.Position{File: "in.csv", Row: row}, Cells: cells}
}

func mustImporter(t testing.TB, op OpKind, header []string, m *MappingFile) *Importer {
	t.Helper()
	im, err := NewImporter(specCatalog(), header, ImportOptions{Op: op, Mapping: m})
	if err != nil {
		t.Fatal(err)
	}
	return im
}

var customHeader = []string{"单行文本字段", "多行文本字段", "日期字段", "时间字段", "日期时间字段", "链接字段",
	"正整数字段", "数值字段", "下拉列表字段", "单选框字段", "多选框字段", "级联字段"}

func customCells() []string {
	return []string{"普通文本内容", "多行文本内容1\r\n多行文本内容2", "2016/8/11", "14:44:36", "2017-05-03 14:44:00",
		"https://www.sample.com", "13.0", "13.33", "下拉选项1", "0", "多选框选项1,3", "0,0,0"}
}

// TestCreate builds the spec's create example from a row.
func TestCreate(t *testing.T) {
	header := append([]string{"Subject", "content", "EMAIL", "cellphone", "customer_token", "status", "priority",
		"assignee_name", "assignee email", "agent_group_name"}, customHeader...)
	im := mustImporter(t, Create, header, nil)
	op, err := im.Operation(rec(2, append([]string{"测试工单1", "工单测试", "customer@sample.com", "13123456789",
		"customer_test_1", "solving", "Medium", "", "agent@sample.com", "默认组"}, customCells()...)...))
	if err != nil {
		t.Fatal(err)
	}
	want := &udesk.NewTicket{Subject: "测试工单1", Content: "工单测试", Email: "customer@sample.com", Cellphone: "13123456789",
		CustomerToken: "customer_test_1", Status: "解决中", Priority: "标准", Assignee: &udesk.Assignee{Email: "agent@sample.com"},
		AgentGroupName: "默认组", TicketField: map[string]string{
			"TextField_1": "普通文本内容", "TextField_2": "多行文本内容1\r\n多行文本内容2", "TextField_3": "2016-08-11",
			"TextField_4": "14:44:36", "TextField_5": "2017-05-03 14:44", "TextField_6": "https://www.sample.com",
			"TextField_7": "13", "TextField_8": "13.33", "SelectField_1": "0", "SelectField_2": "0", "SelectField_3": "0,3",
			"SelectField_4": "0,0,0"}}
	if !reflect.DeepEqual(op.Create, want) || op.Kind != Create || op.Update != nil || op.Reply != nil || op.Pos.Row != 2 {
		t.Errorf("got %+v\nwant %+v", op.Create, want)
	}
	// Short rows and empty cells set nothing; formula escapes are undone.
	op, err = im.Operation(rec(3, "'=1+1", "body", " "))
	if err != nil {
		t.Fatal(err)
	}
	if want := (&udesk.NewTicket{Subject: "=1+1", Content: "body"}); !reflect.DeepEqual(op.Create, want) {
		t.Errorf("short row: %+v", op.Create)
	}
}

func TestCreateRowErrors(t *testing.T) {
	im := mustImporter(t, Create, []string{"subject", "content", "email", "priority", "正整数字段", "下拉列表字段"}, nil)
	_, err := im.Operation(rec(4, "", "body", "nope", "P9", "-2", "下拉选项7"))
	wantErr(t, err,
		`in.csv row 4 column "subject": is empty; create needs subject, content`,
		`in.csv row 4 column "email": "nope" is not an email address`,
		`in.csv row 4 column "priority": "P9" is not a priority; expected one of 紧急/urgency`,
		`in.csv row 4 column "正整数字段": field "正整数字段" (TextField_7, number): "-2" is not a whole number`,
		`in.csv row 4 column "下拉列表字段": "下拉选项7" is not an option label or index of field "下拉列表字段"`)
	var n int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var re *pipeline.RowError
		if !errors.As(e, &re) || re.Pos.Row != 4 {
			t.Errorf("not a RowError of row 4: %v", e)
		}
		n++
	}
	if n != 5 {
		t.Errorf("%d errors, want 5", n)
	}
}

func TestUpdate(t *testing.T) {
	header := append([]string{"id", "subject", "content", "status", "priority", "agent_email", "agent_id", "agent_group_name",
		"agent_group_id", "tags", "follower_emails", "follower_ids", "comment_function", "comment_author_email", "comment_body"},
		customHeader...)
	im := mustImporter(t, Update, header, nil)
	row := append([]string{"12.0", "新标题", "", "已解决", "紧急", "agent@sample.com", "", "", "3", "a, b，c", "",
		"1,2", "公开回复", "agent@sample.com", "line1\r\nline2"}, customCells()...)
	op, err := im.Operation(rec(2, row...))
	if err != nil {
		t.Fatal(err)
	}
	want := &udesk.TicketUpdate{Subject: "新标题", Status: "resolved", Priority: "urgency", AgentEmail: "agent@sample.com",
		AgentGroupID: 3, Tags: "a,b,c", FollowerIDs: "1,2",
		Comment: &udesk.Comment{Function: "external", AuthorEmail: "agent@sample.com", Body: "line1\r\nline2"},
		CustomFields: map[string]string{
			"TextField_1": "普通文本内容", "TextField_2": "多行文本内容1\r\n多行文本内容2", "TextField_3": "2016-08-11",
			"TextField_4": "14:44:36", "TextField_5": "2017-05-03 14:44", "TextField_6": "https://www.sample.com",
			"TextField_7": "13", "TextField_8": "13.33", "SelectField_1": "下拉选项1", "SelectField_2": "单选框选项1",
			"SelectField_3": "多选框选项1,多选框选项4", "SelectField_4": "0,0,0"}}
	if op.ID != 12 || op.Kind != Update || !reflect.DeepEqual(op.Update, want) {
		t.Errorf("got id %d %+v\nwant %+v", op.ID, op.Update, want)
	}
	// An empty cell leaves the field as it is.
	cells := make([]string, len(header))
	cells[0], cells[4] = "12", "low"
	op, err = im.Operation(rec(3, cells...))
	if err != nil || !reflect.DeepEqual(op.Update, &udesk.TicketUpdate{Priority: "low"}) {
		t.Errorf("sparse row: %+v, %v", op.Update, err)
	}
}

func TestUpdateRowErrors(t *testing.T) {
	header := []string{"id", "agent_email", "agent_id", "agent_group_name", "agent_group_id", "follower_emails",
		"follower_ids", "comment_function", "comment_author_email", "comment_body", "status"}
	im := mustImporter(t, Update, header, nil)
	for _, tc := range []struct {
		cells  []string
		errHas []string
	}{
		{[]string{"", "", "", "", "", "", "", "", "", "", "open"}, []string{`row 5 column "id": is empty; update needs id`}},
		{[]string{"0", "", "", "", "", "", "", "", "", "", "open"}, []string{`row 5 column "id": "0" is not an id; expected a positive whole number`}},
		{[]string{"abc", "", "", "", "", "", "", "", "", "", "open"}, []string{`column "id": "abc" is not an id`}},
		{[]string{"1", "a@x.example", "7", "", "", "", "", "", "", "", ""},
			[]string{`row 5: columns "agent_email" and "agent_id" are both filled; the API takes one of them`}},
		{[]string{"1", "", "", "g", "7", "", "", "", "", "", ""},
			[]string{`columns "agent_group_name" and "agent_group_id" are both filled`}},
		{[]string{"1", "", "", "", "", "a@x.example", "7", "", "", "", ""},
			[]string{`columns "follower_emails" and "follower_ids" are both filled`}},
		{[]string{"1", "", "", "", "", "", "", "internal", "", "", ""},
			[]string{"a comment needs comment_function, comment_author_email and comment_body; comment_author_email, comment_body empty"}},
		{[]string{"1", "", "", "", "", "", "", "public", "a@x.example", "hi", ""},
			[]string{`column "comment_function": "public" is not a comment function; expected internal (内部备注) or external (公开回复)`}},
		{[]string{"1", "", "", "", "", "", "1,x", "", "", "", ""}, []string{`column "follower_ids": "x" is not an id`}},
		{[]string{"1", "", "", "", "", "", "", "", "", "", ""}, []string{"row 5: nothing to update: every column but id is empty"}},
		{[]string{"1", "", "", "", "", "", "", "", "", "", "已删除"}, []string{`column "status": "已删除" is not a status; expected one of 打开/open`}},
	} {
		_, err := im.Operation(rec(5, tc.cells...))
		wantErr(t, err, tc.errHas...)
	}
}

func TestReply(t *testing.T) {
	im := mustImporter(t, Reply, []string{"ID", "Reply_Content", "user_email", "subject"}, nil)
	op, err := im.Operation(rec(2, "2", "测试客户回复", "customer@sample.com", "ignored"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (&udesk.Reply{ID: 2, ReplyContent: "测试客户回复", Email: "customer@sample.com"}); op.ID != 2 || !reflect.DeepEqual(op.Reply, want) {
		t.Errorf("got %+v", op.Reply)
	}
	_, err = im.Operation(rec(3, "2", "", ""))
	wantErr(t, err, `row 3 column "Reply_Content": is empty; reply needs id, reply_content, email`, `row 3 column "user_email": is empty`)
}

func TestNewImporterErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		op     OpKind
		header []string
		opts   ImportOptions
		errHas []string
	}{
		{"unknown columns listed together", Create, []string{"subject", "content", "Foo", "Bar", ""},
			ImportOptions{}, []string{`unknown columns "Foo", "Bar", "": not a --create column (subject, content, email,`, "field_label", "mapping file"}},
		{"ambiguous label", Create, []string{"subject", "content", "Same"}, ImportOptions{},
			[]string{`column "Same": ambiguous: field_label "Same" is shared by fields TextField_90, TextField_91`}},
		{"one thing twice", Create, []string{"subject", "content", "email", "user_email", "TextField_1", "单行文本字段"}, ImportOptions{},
			[]string{`columns "email" and "user_email" both set email`, `columns "TextField_1" and "单行文本字段" both set TextField_1`}},
		{"required columns", Create, []string{"email"}, ImportOptions{}, []string{"no subject column: create needs subject, content", "no content column"}},
		{"update needs id", Update, []string{"subject"}, ImportOptions{}, []string{"no id column: update needs id"}},
		{"reply sets no custom field", Reply, []string{"id", "reply_content", "email", "日期字段"}, ImportOptions{},
			[]string{"custom field TextField_3 cannot be set by a reply"}},
		{"create has no comment", Create, []string{"subject", "content", "comment_body"}, ImportOptions{}, []string{`unknown columns "comment_body"`}},
		{"no op", 0, []string{"subject"}, ImportOptions{}, []string{"no operation chosen"}},
		{"bad select mode", Create, []string{"subject"}, ImportOptions{SelectValues: "both"}, []string{`select values "both"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := append(specFields(), udesk.Field{Name: "TextField_90", Label: "Same", ContentType: "text"},
				udesk.Field{Name: "TextField_91", Label: "same", ContentType: "text"})
			o := tc.opts
			o.Op = tc.op
			_, err := NewImporter(NewCatalog(fields), tc.header, o)
			wantErr(t, err, tc.errHas...)
		})
	}
}

// A file written by export imports as it is: read-only columns are skipped,
// aliases map to the operation's columns, and text sinks' value forms parse.
func TestRoundTrip(t *testing.T) {
	e := NewExporter(specCatalog(), ExportOptions{})
	var header []string
	for _, c := range e.Schema().Columns {
		header = append(header, c.Name)
	}
	cells := textCells(e.Row(specTicket()))
	im := mustImporter(t, Create, header, nil)
	op, err := im.Operation(rec(2, cells...))
	if err != nil {
		t.Fatal(err)
	}
	want := &udesk.NewTicket{Subject: "演示工单", Content: "这是您的第一个工单", Email: "test@sample.com", Status: "解决中",
		Priority: "紧急", Assignee: &udesk.Assignee{Name: "测试客服"}, AgentGroupName: "售后1组",
		TicketField: specTicket().CustomFields}
	if !reflect.DeepEqual(op.Create, want) {
		t.Errorf("create:\n got %+v\nwant %+v", op.Create, want)
	}
	im = mustImporter(t, Update, header, nil)
	op, err = im.Operation(rec(2, cells...))
	if err != nil {
		t.Fatal(err)
	}
	if op.ID != 1 || op.Update.Status != "solving" || op.Update.Priority != "urgency" || op.Update.AgentID != 1 ||
		op.Update.AgentGroupID != 1 || op.Update.AgentGroupName != "" || op.Update.CustomFields["SelectField_3"] != "多选框选项1,多选框选项4" {
		t.Errorf("update: %+v", op.Update)
	}
	// With field_name headers too.
	e = NewExporter(specCatalog(), ExportOptions{Headers: HeadersNames})
	header = header[:0]
	for _, c := range e.Schema().Columns {
		header = append(header, c.Name)
	}
	if _, err := mustImporter(t, Update, header, nil).Operation(rec(2, cells...)); err != nil {
		t.Error(err)
	}
}

// textCells renders a row as the text sinks do (see CONTRACTS.md).
func textCells(r pipeline.Row) []string {
	out := make([]string, len(r.Values))
	for i, v := range r.Values {
		switch v := v.(type) {
		case nil:
			out[i] = r.Raw[i]
		case time.Time:
			if v.Location() == time.UTC {
				out[i] = v.Format("2006-01-02")
			} else {
				out[i] = v.Format("2006-01-02 15:04:05 -0700")
			}
		case []string:
			out[i] = strings.Join(v, ",")
		default:
			out[i] = EscapeFormula(fmt.Sprint(v))
		}
	}
	return out
}

func BenchmarkImporterOperation(b *testing.B) {
	header := append([]string{"subject", "content", "email", "status", "priority"}, customHeader...)
	im := mustImporter(b, Create, header, nil)
	r := rec(2, append([]string{"测试工单1", "工单测试", "customer@sample.com", "open", "紧急"}, customCells()...)...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := im.Operation(r); err != nil {
			b.Fatal(err)
		}
	}
}
