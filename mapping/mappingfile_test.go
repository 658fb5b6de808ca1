package mapping

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// sliceReader is a pipeline.RecordReader over records in memory; an error in
// errs at a record's index is returned instead of it.
type sliceReader struct {
	header []string
	recs   []pipeline.Record
	errs   map[int]error
	i      int
}

func (r *sliceReader) Header() []string { return r.header }
func (r *sliceReader) Close() error     { return nil }
func (r *sliceReader) Next(context.Context) (pipeline.Record, error) {
	if r.i >= len(r.recs) {
		return pipeline.Record{}, io.EOF
	}
	r.i++
	if err := r.errs[r.i-1]; err != nil {
		return r.recs[r.i-1], err
	}
	return r.recs[r.i-1], nil
}

func readCSV(t *testing.T, path string) *sliceReader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	r := &sliceReader{header: all[0]}
	for i, cells := range all[1:] {
		r.recs = append(r.recs, pipeline.Record{Pos: pipeline.Position{File: path, Row: i + 2}, Cells: cells})
	}
	return r
}

// TestZendeskSample migrates the sample Zendesk export with the sample
// mapping file into create operations.
func TestZendeskSample(t *testing.T) {
	m, err := LoadMappingFile("../samples/mapping-zendesk.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := readCSV(t, "../samples/zendesk-export.csv")
	im, err := NewImporter(specCatalog(), r.Header(), ImportOptions{Op: Create, Mapping: m})
	if err != nil {
		t.Fatal(err)
	}
	var got []*udesk.NewTicket
	var rows []int
	for {
		rec, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		op, err := im.Operation(rec)
		if err != nil {
			t.Errorf("row %d: %v", rec.Pos.Row, err)
			continue
		}
		got = append(got, op.Create)
		rows = append(rows, op.Pos.Row)
	}
	marker := "migrated from Zendesk"
	want := []*udesk.NewTicket{
		{Subject: "Cannot log in", Content: "I get \"wrong password\" every time.\nPlease help.", Email: "ann@example.com",
			Cellphone: "13123456789", Status: "打开", Priority: "紧急", Assignee: &udesk.Assignee{Email: "agent@sample.com"},
			AgentGroupName: "默认组", TicketField: map[string]string{"TextField_1": marker, "SelectField_1": "0",
				"TextField_5": "2024-03-02 18:30", "TextField_7": "5012"}},
		{Subject: "Refund for order 5013", Content: "The parcel arrived broken.", Email: "bo@example.com", Status: "打开",
			Priority: "高", AgentGroupName: "售后1组", TicketField: map[string]string{"TextField_1": marker, "SelectField_1": "1",
				"TextField_7": "5013"}},
		{Subject: "Invoice address", Content: "Please change the address on my invoice.", Email: "cy@example.com",
			Cellphone: "13900000000", Status: "解决中", Priority: "标准", AgentGroupName: "售后1组",
			TicketField: map[string]string{"TextField_1": marker, "SelectField_1": "2", "TextField_5": "2024-03-05 08:00",
				"TextField_7": "5014"}},
		{Subject: "Feature request: dark mode", Content: "It would be nice to have a dark theme.", Email: "di@example.com",
			Status: "已解决", Priority: "低", Assignee: &udesk.Assignee{Email: "agent@sample.com"}, AgentGroupName: "默认组",
			TicketField: map[string]string{"TextField_1": marker}},
		{Subject: "Question about pricing", Content: "How much is the pro plan?", Email: "ed@example.com", Status: "已关闭",
			Priority: "标准", TicketField: map[string]string{"TextField_1": marker, "SelectField_1": "0"}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d operations, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("ticket %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if !reflect.DeepEqual(rows, []int{2, 3, 4, 5, 6}) {
		t.Errorf("rows %v", rows)
	}
}

// Everything wrong with a mapping file is reported at once.
func TestMappingValidation(t *testing.T) {
	m, err := ParseMappingFile("bad.yaml", []byte(`
columns:
  Subject: subject
  Body: contents
  Kind: tags
values:
  priority:
    P1: 超急
    P2: high
  日期字段:
    someday: later
defaults:
  status: nope
constants:
  platform: 邮件
  正整数字段: "-1"
  Nowhere: x
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewImporter(specCatalog(), []string{"Subject", "Body", "Kind"}, ImportOptions{Op: Create, Mapping: m})
	wantErr(t, err,
		`mapping file bad.yaml: columns: "Body" -> "contents": "contents": no such custom field`,
		`mapping file bad.yaml: columns: "Kind" -> "tags"`,
		`mapping file bad.yaml: values of "priority": "P1" -> "超急": "超急" is not a priority`,
		`mapping file bad.yaml: values of "日期字段": "someday" -> "later": field "日期字段" (TextField_3, date): "later" is not a date`,
		`mapping file bad.yaml: defaults: "status": "nope" is not a status`,
		`mapping file bad.yaml: constants: "platform": create does not use "platform"`,
		`mapping file bad.yaml: constants: "正整数字段": field "正整数字段" (TextField_7, number): "-1" is not a whole number`,
		`mapping file bad.yaml: constants: "Nowhere"`,
		"no content column: create needs subject, content")
	if errs := err.(interface{ Unwrap() []error }).Unwrap(); len(errs) != 9 {
		t.Errorf("%d errors, want 9: %v", len(errs), err)
	}
	// The header has no unknown-column error of its own for mapped columns.
	if e := err.Error(); strings.Contains(e, "unknown columns") {
		t.Errorf("mapped columns reported as unknown: %v", e)
	}
}

func TestParseMappingFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		errHas     []string
	}{
		{"unknown key", "columns: {a: subject}\ndefault: {priority: 高}\n",
			[]string{`bad.yaml: line 2: unknown key "default": the keys are columns, ignore, ignore_unknown, values, defaults, constants`}},
		{"unknown key in JSON", `{"columns": {"a": "subject"}, "ignores": ["b"]}`, []string{`unknown key "ignores": the keys are columns, ignore,`}},
		{"syntax", "columns: [", []string{"bad.yaml"}},
		{"keys folding alike", "columns:\n  Subject: subject\n  ' subject': content\ndefaults:\n  Status: open\n  status: closed\n",
			[]string{`columns: " subject" and "Subject" name the same thing`, `defaults: "Status" and "status" name the same thing`}},
		{"empty target", "columns:\n  Foo: ''\n", []string{`columns: "Foo" maps to nothing; list it under ignore instead`}},
		{"values folding alike", "values:\n  priority:\n    P1: 紧急\n    p1: 高\n", []string{`values of "priority": "P1" and "p1"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMappingFile("bad.yaml", []byte(tc.text))
			wantErr(t, err, tc.errHas...)
		})
	}
	_, err := LoadMappingFile(filepath.Join(t.TempDir(), "none.yaml"))
	wantErr(t, err, "none.yaml")
}

// JSON mapping files read the same; ignore_unknown skips leftover columns;
// a constant wins over the file; a default fills a column the file lacks.
func TestMappingJSONAndOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	os.WriteFile(path, []byte(`{"columns":{"Title":"subject","Body":"content"},"ignore_unknown":true,
		"constants":{"status":"open"},"defaults":{"priority":"low","多选框字段":"0,1"},"values":{"subject":{"-":""}}}`), 0o600)
	m, err := LoadMappingFile(path)
	if err != nil {
		t.Fatal(err)
	}
	im, err := NewImporter(specCatalog(), []string{"Title", "Body", "Status", "Whatever"}, ImportOptions{Op: Create, Mapping: m})
	if err != nil {
		t.Fatal(err)
	}
	op, err := im.Operation(rec(2, "t", "b", "closed", "x"))
	if err != nil {
		t.Fatal(err)
	}
	want := &udesk.NewTicket{Subject: "t", Content: "b", Status: "打开", Priority: "低", TicketField: map[string]string{"SelectField_3": "0,1"}}
	if !reflect.DeepEqual(op.Create, want) {
		t.Errorf("got %+v", op.Create)
	}
	// A value translated to nothing is empty.
	_, err = im.Operation(rec(3, "-", "b"))
	wantErr(t, err, `row 3 column "Title": is empty`)
}

func TestOperationJSON(t *testing.T) {
	for _, tc := range []struct {
		op   Operation
		want string
	}{
		{Operation{Pos: pipeline.Position{File: "a.csv", Row: 2}, Kind: Create, Create: &udesk.NewTicket{Subject: "s", Content: "c"}},
			`{"file":"a.csv","row":2,"op":"create","ticket":{"subject":"s","content":"c"}}`},
		{Operation{Pos: pipeline.Position{File: "a.xlsx", Sheet: "S", Row: 3}, Kind: Update, ID: 9, Update: &udesk.TicketUpdate{Priority: "low"}},
			`{"file":"a.xlsx","sheet":"S","row":3,"op":"update","id":9,"ticket":{"priority":"low"}}`},
		{Operation{Pos: pipeline.Position{Row: 4}, Kind: Reply, ID: 2, Reply: &udesk.Reply{ID: 2, ReplyContent: "r", Email: "e@x"}},
			`{"row":4,"op":"reply","id":2,"reply":{"id":2,"reply_content":"r","email":"e@x"}}`},
	} {
		b, err := json.Marshal(tc.op)
		if err != nil || string(b) != tc.want {
			t.Errorf("got %s, %v\nwant %s", b, err, tc.want)
		}
	}
	if OpKind(0).String() != "OpKind(0)" || Update.String() != "update" {
		t.Error("OpKind.String")
	}
}
