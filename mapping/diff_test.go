package mapping

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk"
)

func diffTicket(id int64) udesk.Ticket {
	return udesk.Ticket{ID: id, Subject: "=SUM(A1)", Content: "line 1\r\nline 2", Priority: "标准", Status: "open",
		User: "张三", AssigneeID: 7, UserGroupID: 3, UserGroupName: "一组", CreatedAt: "2016-07-28 20:44:08 +0800",
		UpdatedAt: "2016-07-29 09:00:30 +0800",
		CustomFields: udesk.CustomFields{"TextField_3": "2016-08-11", "TextField_5": "2017-05-03 14:44",
			"TextField_7": "13", "TextField_8": "13.33", "SelectField_1": "0", "SelectField_3": "0,3"}}
}

// exported renders tickets as an export's originals: header and CellText cells.
func exported(t *testing.T, tickets ...udesk.Ticket) ([]string, [][]string) {
	t.Helper()
	e := NewExporter(specCatalog(), ExportOptions{})
	var header []string
	for _, c := range e.Schema().Columns {
		header = append(header, c.Name)
	}
	var rows [][]string
	for i := range tickets {
		r := e.Row(&tickets[i])
		cells := make([]string, len(r.Values))
		for j, v := range r.Values {
			cells[j] = CellText(e.Schema().Columns[j].Kind, v)
		}
		rows = append(rows, cells)
	}
	return header, rows
}

func newTestDiffer(t *testing.T, header []string, origHeader []string, rows [][]string) *Differ {
	t.Helper()
	o, err := NewOriginals(origHeader)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if err := o.Add(rec(i+2, r...)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := NewDiffer(mustImporter(t, Update, header, nil), header, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func set(header, cells []string, col, v string) []string {
	out := append([]string(nil), cells...)
	for i, h := range header {
		if h == col {
			out[i] = v
			return out
		}
	}
	panic("no column " + col)
}

func editCode(err error) string {
	var ee *EditError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ""
}

// TestDifferOldAndNewTimestampText: originals kept by an export written
// before timestamps were RFC 3339 ("2016-07-28 20:44:08 +0800") and those of
// a newer one compare equal to a file in either form.
func TestDifferOldAndNewTimestampText(t *testing.T) {
	header, rows := exported(t, diffTicket(101))
	oldForm := set(header, rows[0], "created_at", "2016-07-28 20:44:08 +0800")
	oldForm = set(header, oldForm, "updated_at", "2016-07-29 09:00:30 +0800")
	for name, c := range map[string]struct{ orig, edited []string }{
		"new originals, old file": {rows[0], oldForm},
		"old originals, new file": {oldForm, rows[0]},
	} {
		d := newTestDiffer(t, header, header, [][]string{c.orig})
		if _, changes, err := d.Operation(rec(2, c.edited...)); !errors.Is(err, ErrUnchanged) {
			t.Errorf("%s: err %v, changes %v; want ErrUnchanged", name, err, changes)
		}
	}
	if got := rows[0][slices.Index(header, "created_at")]; got != "2016-07-28T20:44:08+08:00" {
		t.Errorf("created_at written as %q, want RFC 3339", got)
	}
}

func TestDifferUnchangedDespiteRetyping(t *testing.T) {
	header, rows := exported(t, diffTicket(101))
	d := newTestDiffer(t, header, header, rows)
	// What a spreadsheet gives back for untouched or retyped cells.
	edited := rows[0]
	for col, v := range map[string]string{
		"created_at": "2016-07-28 20:44:08", // a date cell has no offset
		"updated_at": "2016/7/29 9:00",      // Excel saves a CSV's times to the minute
		"日期字段":       "2016/8/11",
		"日期时间字段":     "2017-05-03 14:44:00",
		"正整数字段":      "13.0",
		"数值字段":       "13.330",
		"priority":   "medium",
		"多选框字段":      "多选框选项4，多选框选项1",
		"id":         "101.0",
	} {
		edited = set(header, edited, col, v)
	}
	_, changes, err := d.Operation(rec(2, edited...))
	if !errors.Is(err, ErrUnchanged) || len(changes) != 0 {
		t.Fatalf("err %v, changes %v; want ErrUnchanged", err, changes)
	}
}

func TestDifferSendsOnlyChangedFields(t *testing.T) {
	header, rows := exported(t, diffTicket(101), diffTicket(102))
	// The user moved a column and dropped one: matched by name.
	d := newTestDiffer(t, header, header, rows)
	edited := set(header, rows[1], "priority", "紧急")
	edited = set(header, edited, "下拉列表字段", "下拉选项3")
	edited = set(header, edited, "subject", "'=SUM(A2)")
	op, changes, err := d.Operation(rec(3, edited...))
	if err != nil {
		t.Fatal(err)
	}
	want := &udesk.TicketUpdate{Priority: "urgency", Subject: "=SUM(A2)", CustomFields: map[string]string{"SelectField_1": "下拉选项3"}}
	if op.ID != 102 || !reflect.DeepEqual(op.Update, want) {
		t.Errorf("op #%d %+v, want #102 %+v", op.ID, op.Update, want)
	}
	var got []string
	for _, c := range changes {
		got = append(got, "#"+strconv.FormatInt(c.ID, 10)+" "+c.Column+": "+c.Old+" -> "+c.New)
	}
	wantCh := []string{"#102 subject: =SUM(A1) -> =SUM(A2)", "#102 priority: 标准 -> 紧急", "#102 下拉列表字段: 下拉选项1 -> 下拉选项3"}
	if !reflect.DeepEqual(got, wantCh) {
		t.Errorf("changes %q, want %q", got, wantCh)
	}
	if m := d.Missing(); !reflect.DeepEqual(m, []int64{101}) {
		t.Errorf("Missing %v, want [101] (row deleted from the sheet)", m)
	}
}

func TestDifferReorderedAndDroppedColumns(t *testing.T) {
	header, rows := exported(t, diffTicket(101))
	edHeader := []string{"priority", "id", "status"}
	d := newTestDiffer(t, edHeader, header, rows)
	op, _, err := d.Operation(rec(2, "标准", "101", "solving"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(op.Update, &udesk.TicketUpdate{Status: "solving"}) {
		t.Errorf("update %+v, want only status", op.Update)
	}
}

func TestDifferRowErrors(t *testing.T) {
	long := diffTicket(103)
	long.Content = "开头 …[truncated: 40000 characters, full text in sheet _long_cells]"
	header, rows := exported(t, diffTicket(101), diffTicket(102), long)
	for _, tc := range []struct {
		name  string
		cells []string
		code  string
		parts []string
	}{
		{"read-only edit", set(header, rows[0], "user", "李四"), CodeReadOnly, []string{`"user"`, "张三 -> 李四", "read-only"}},
		{"group name", set(header, rows[0], "user_group_name", "二组"), CodeReadOnly, []string{"user_group_id"}},
		{"created_at edit", set(header, rows[0], "created_at", "2016-07-28 20:44:09"), CodeReadOnly, []string{"created_at"}},
		{"updated_at minute", set(header, rows[0], "updated_at", "2016/7/29 9:01"), CodeReadOnly, []string{"updated_at"}},
		{"cleared", set(header, rows[0], "日期字段", ""), CodeCleared, []string{"日期字段", "2016-08-11", "cannot clear"}},
		{"no id", set(header, rows[0], "id", ""), CodeAddedRow, []string{"--create"}},
		{"unknown id", set(header, rows[0], "id", "999"), CodeAddedRow, []string{"999", "not in the export"}},
		{"bad value", set(header, rows[0], "priority", "whenever"), "", []string{"priority", "whenever"}},
		{"cut text", set(header, rows[2], "content", "开头 and more"), CodeReadOnly, []string{"content", "too long"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDiffer(t, header, header, rows)
			_, _, err := d.Operation(rec(2, tc.cells...))
			wantErr(t, err, append(tc.parts, "row 2")...)
			if got := editCode(err); got != tc.code {
				t.Errorf("code %q, want %q (%v)", got, tc.code, err)
			}
		})
	}
	d := newTestDiffer(t, header, header, rows)
	if _, _, err := d.Operation(rec(2, rows[0]...)); !errors.Is(err, ErrUnchanged) {
		t.Fatal(err)
	}
	_, _, err := d.Operation(rec(5, rows[0]...))
	wantErr(t, err, "also in row 2")
	if editCode(err) != CodeDuplicate {
		t.Errorf("code %q, want %q", editCode(err), CodeDuplicate)
	}
}

func TestDifferConflicts(t *testing.T) {
	header, rows := exported(t, diffTicket(101))
	d := newTestDiffer(t, header, header, rows)
	edited := set(header, rows[0], "priority", "紧急")
	edited = set(header, edited, "日期字段", "2020-01-02")
	op, changes, err := d.Operation(rec(2, edited...))
	if err != nil {
		t.Fatal(err)
	}
	pos := op.Pos
	cur := diffTicket(101)
	cur.Subject = "changed elsewhere, but the sheet does not change it"
	if err := d.Conflicts(pos, changes, &cur); err != nil {
		t.Errorf("fields the row does not change: %v", err)
	}
	cur.Priority = "紧急" // someone made the same change
	if err := d.Conflicts(pos, changes, &cur); err != nil {
		t.Errorf("current = wanted: %v", err)
	}
	cur.Priority = "高"
	cur.CustomFields = udesk.CustomFields{"TextField_3": "2019-12-31"}
	err = d.Conflicts(pos, changes, &cur)
	wantErr(t, err, "ticket 101", "priority was 标准", "now 高", "wants 紧急", "日期字段 was 2016-08-11", "now 2019-12-31", "left alone")
	if editCode(err) != CodeConflict {
		t.Errorf("code %q, want %q", editCode(err), CodeConflict)
	}
}

func TestCellText(t *testing.T) {
	header, rows := exported(t, diffTicket(101))
	got := map[string]string{}
	for i, h := range header {
		got[h] = rows[0][i]
	}
	for col, want := range map[string]string{"subject": "'=SUM(A1)", "created_at": "2016-07-28T20:44:08+08:00",
		"日期字段": "2016-08-11", "多选框字段": "多选框选项1,多选框选项4", "assignee_id": "7", "数值字段": "13.33"} {
		if got[col] != want {
			t.Errorf("%s: %q, want %q", col, got[col], want)
		}
	}
	if _, err := NewOriginals([]string{"subject"}); err == nil || !strings.Contains(err.Error(), "no id column") {
		t.Errorf("originals without id: %v", err)
	}
}

// TestDifferSaw: a row an import skips (sent by an earlier run) is not a
// deleted row, and comparing it after all is not a duplicate.
func TestDifferSaw(t *testing.T) {
	header, rows := exported(t, diffTicket(101), diffTicket(102))
	d := newTestDiffer(t, header, header, rows)
	d.Saw(rec(2, rows[0]...))
	d.Saw(rec(3, rows[1]...))
	if m := d.Missing(); len(m) != 0 {
		t.Errorf("Missing %v, want none", m)
	}
	if _, _, err := d.Operation(rec(3, rows[1]...)); !errors.Is(err, ErrUnchanged) {
		t.Errorf("row 3 after Saw: %v, want ErrUnchanged", err)
	}
	if _, _, err := d.Operation(rec(4, rows[1]...)); editCode(err) != CodeDuplicate {
		t.Errorf("row 4, same ticket as row 3: %v, want %s", err, CodeDuplicate)
	}
}
