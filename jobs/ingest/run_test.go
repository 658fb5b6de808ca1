package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/pipeline/pipelinetest"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// runImport imports in against sim as the command line does (4 writes in
// flight, the tenant's URL in the state key).
func runImport(t *testing.T, sim *udesktest.Server, op mapping.OpKind, in ingest.Input, opts ingest.Options) (*ingest.Report, error) {
	t.Helper()
	opts.Op, opts.Tenant = op, sim.URL()
	if opts.Concurrency == 0 {
		opts.Concurrency = 4
	}
	return ingest.Run(context.Background(), newClient(t, sim), in, opts)
}

// mustImport imports in and wants it to end with failed rows rejected.
func mustImport(t *testing.T, sim *udesktest.Server, op mapping.OpKind, in ingest.Input, opts ingest.Options, failed int64) *ingest.Report {
	t.Helper()
	rep, err := runImport(t, sim, op, in, opts)
	if err != nil {
		t.Fatalf("import %s: %v", in.Path, err)
	}
	if rep.Failed != failed {
		t.Fatalf("import %s: %d rows failed, want %d (notes %v)", in.Path, rep.Failed, failed, rep.Notes)
	}
	return rep
}

var writers = []struct {
	name, ext string
	write     func(testing.TB, string, [][]string)
	encoding  string
}{
	{"csv", ".csv", ingesttest.WriteCSV, ""},
	{"gbk-csv", ".csv", writeGBKTest, "gbk"},
	{"xlsx", ".xlsx", writeXLSXTest, ""},
	{"jsonl", ".jsonl", writeJSONLTest, ""},
}

// A whole journaled import: tickets created with every kind of value, and
// success.csv and errors.csv written beside the input.
func TestRunCreate(t *testing.T) {
	for _, wr := range writers {
		t.Run(wr.name, func(t *testing.T) {
			sim := newSim(t, udesktest.Options{})
			dir := t.TempDir()
			in := filepath.Join(dir, "tickets"+wr.ext)
			recs := [][]string{
				{"subject", "content", "email", "status", "priority", "agent_group_name", "下拉列表字段", "单选框字段", "多选框字段", "日期字段", "正整数字段"},
				{"打印机无法连接", "三楼打印机\n无法连接", "li.lei@example.com", "解决中", "高", "售后1组", "下拉选项2", "单选框选项1", "多选框选项1,多选框选项4", "2026-11-01", "3"},
				{"退款进度", "订单 20261101", "li.lei@example.com", "resolved", "urgency", "", "下拉选项3", "单选框选项2", "", "", ""},
				{"=1+2 formula", "'=SUM(A1)", "han.meimei@example.com", "", "", "", "", "", "多选框选项2", "", ""},
			}
			wr.write(t, in, recs)
			rep := mustImport(t, sim, mapping.Create, ingest.Input{Path: in, Encoding: wr.encoding}, ingest.Options{}, 0)
			if rep.Read != 3 || rep.Written != 3 || rep.State == "" {
				t.Errorf("report: %+v", rep)
			}
			got := ingesttest.TicketsBySubject(sim)
			a, b, c := got["打印机无法连接"], got["退款进度"], got["=1+2 formula"]
			if len(a) != 1 || len(b) != 1 || len(c) != 1 || len(sim.Tickets()) != 3 {
				t.Fatalf("tickets: %+v", sim.Tickets())
			}
			// Read forms: status English, priority Chinese, selects as indexes.
			if a[0].Status != "solving" || a[0].Priority != "高" || a[0].UserGroupName != "售后1组" || a[0].Content != "三楼打印机\n无法连接" {
				t.Errorf("ticket a: %+v", a[0])
			}
			cf := a[0].CustomFields
			if cf["SelectField_1"] != "1" || cf["SelectField_2"] != "0" || cf["SelectField_3"] != "0,3" || cf["TextField_3"] != "2026-11-01" || cf["TextField_7"] != "3" {
				t.Errorf("ticket a custom fields: %v", cf)
			}
			if b[0].Status != "resolved" || b[0].Priority != "紧急" || b[0].CustomFields["SelectField_1"] != "2" || b[0].CustomFields["SelectField_2"] != "1" {
				t.Errorf("ticket b: %+v", b[0])
			}
			// The text files' leading quote is the formula escape and is
			// undone; a workbook we did not write holds its text as it is, so
			// the quote is part of the stored value (Excel's own quote prefix
			// is a cell style, not text).
			content := "=SUM(A1)"
			if wr.name == "xlsx" || wr.name == "jsonl" {
				content = "'=SUM(A1)"
			}
			if c[0].Status != "open" || c[0].Priority != "标准" || c[0].Content != content || c[0].CustomFields["SelectField_3"] != "1" {
				t.Errorf("ticket c (defaults, content %q): %+v", content, c[0])
			}
			// The customer lookup: both of li.lei's tickets go to one customer.
			if a[0].UserEmail != "li.lei@example.com" || b[0].User != a[0].User || c[0].UserEmail != "han.meimei@example.com" {
				t.Errorf("customers: %q/%q %q/%q %q", a[0].User, a[0].UserEmail, b[0].User, b[0].UserEmail, c[0].UserEmail)
			}
			res := ingesttest.ResultsDir(t, in, "create-results")
			if rep.Results != res {
				t.Errorf("report's results %q, want %q", rep.Results, res)
			}
			ok := ingesttest.ReadCSV(t, filepath.Join(res, "success.csv"))
			// Rows are as a spreadsheet shows them (row 2 of the CSV spans
			// two lines), JSON lines (no header line); then the row's cells.
			rows := map[string][]int{"csv": {2, 3, 4}, "gbk-csv": {2, 3, 4}, "xlsx": {2, 3, 4}, "jsonl": {1, 2, 3}}[wr.name]
			want := [][]string{{"row", "ticket_id", "action", "subject"}}
			for i, tk := range []udesktest.Ticket{a[0], b[0], c[0]} {
				want = append(want, []string{fmt.Sprint(rows[i]), fmt.Sprint(tk.ID), ingest.ActionCreated, tk.Subject})
			}
			subject := slices.Index(ok[0], "subject")
			for i := range ok {
				ok[i] = append(ok[i][:3:3], mapping.UnescapeFormula(ok[i][subject]))
			}
			if fmt.Sprint(ok) != fmt.Sprint(want) {
				t.Errorf("success.csv %v, want %v", ok, want)
			}
			if errs := ingesttest.ReadCSV(t, filepath.Join(res, "errors.csv")); len(errs) != 1 {
				t.Errorf("errors.csv: %v", errs)
			}
			// The journal is complete, in the state folder the package names.
			st, err := pipeline.ReadJournal(filepath.Join(rep.State, "journal.jsonl"))
			if err != nil || !st.Complete || st.Count(pipeline.EntryOK) != 3 {
				t.Errorf("journal: %+v, %v", st, err)
			}
			if _, err := os.Stat(filepath.Join(rep.State, "fields.json")); err != nil {
				t.Errorf("the catalog is not kept with the state: %v", err)
			}
		})
	}
}

func TestRunCreateSelectIndexes(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	in := filepath.Join(t.TempDir(), "idx.csv")
	ingesttest.WriteCSV(t, in, [][]string{
		{"subject", "content", "email", "SelectField_1", "SelectField_3"},
		{"by index", "x", "a@example.com", "2", "1,2"},
		{"bad index", "x", "a@example.com", "7", ""},
	})
	mustImport(t, sim, mapping.Create, ingest.Input{Path: in, SelectValues: "indexes"}, ingest.Options{}, 1)
	got := ingesttest.TicketsBySubject(sim)["by index"]
	if len(got) != 1 || got[0].CustomFields["SelectField_1"] != "2" || got[0].CustomFields["SelectField_3"] != "1,2" {
		t.Fatalf("tickets: %+v", sim.Tickets())
	}
	errs := ingesttest.ReadCSV(t, filepath.Join(ingesttest.ResultsDir(t, in, "create-results"), "errors.csv"))
	if len(errs) != 2 || errs[1][0] != "bad index" || errs[1][5] != ingest.CodeInvalid || !strings.Contains(errs[1][6], "SelectField_1") {
		t.Fatalf("errors.csv: %v", errs)
	}
}

func TestRunUpdateAndReply(t *testing.T) {
	for _, wr := range writers {
		t.Run(wr.name, func(t *testing.T) {
			sim := newSim(t, udesktest.Options{Tickets: 5, Seed: 3})
			dir := t.TempDir()
			t1, _ := sim.Ticket(1)
			t2, _ := sim.Ticket(2)
			upd := filepath.Join(dir, "upd"+wr.ext)
			wr.write(t, upd, [][]string{
				{"id", "subject", "status", "priority", "下拉列表字段", "多选框字段", "agent_email", "tags", "comment_function", "comment_author_email", "comment_body"},
				{"1", "新标题", "已解决", "高", "下拉选项2", "多选框选项1,多选框选项3", "zhang.wei@example.com", "vip,急", "", "", ""},
				{"2", "", "solving", "low", "", "", "", "", "内部备注", "agent@sample.com", "已电话联系客户"},
			})
			mustImport(t, sim, mapping.Update, ingest.Input{Path: upd, Encoding: wr.encoding}, ingest.Options{}, 0)
			n1, _ := sim.Ticket(1)
			if n1.Subject != "新标题" || n1.Status != "resolved" || n1.Priority != "高" || n1.AssigneeID != 3 ||
				n1.CustomFields["SelectField_1"] != "1" || n1.CustomFields["SelectField_3"] != "0,2" || n1.Tags != "vip,急" {
				t.Errorf("ticket 1 after update: %+v", n1)
			}
			n2, _ := sim.Ticket(2)
			if n2.Subject != t2.Subject || n2.Status != "solving" || n2.Priority != "低" {
				t.Errorf("ticket 2 after update: %+v", n2)
			}
			if r := sim.Replies(2); len(r) != 1 || r[0].Kind != "internal" || r[0].Body != "已电话联系客户" || r[0].Author != "agent@sample.com" {
				t.Errorf("ticket 2 comments: %+v", r)
			}
			if len(sim.Replies(1)) != 0 {
				t.Errorf("ticket 1 got a comment: %+v", sim.Replies(1))
			}

			rep := filepath.Join(dir, "rep"+wr.ext)
			wr.write(t, rep, [][]string{
				{"id", "reply_content", "email"},
				{"1", "谢谢，问题已经解决了", t1.UserEmail},
				{"9999", "no such ticket", t1.UserEmail},
			})
			mustImport(t, sim, mapping.Reply, ingest.Input{Path: rep, Encoding: wr.encoding}, ingest.Options{}, 1)
			if r := sim.Replies(1); len(r) != 1 || r[0].Kind != "customer" || r[0].Body != "谢谢，问题已经解决了" {
				t.Errorf("ticket 1 replies: %+v", r)
			}
			errs := ingesttest.ReadCSV(t, filepath.Join(ingesttest.ResultsDir(t, rep, "reply-results"), "errors.csv"))
			col := func(name string) int {
				for i, h := range errs[0] {
					if h == name {
						return i
					}
				}
				t.Fatalf("errors.csv has no column %s: %v", name, errs[0])
				return -1
			}
			if len(errs) != 2 || errs[1][col("id")] != "9999" || errs[1][col("error_code")] != "api_1003" {
				t.Errorf("errors.csv: %v", errs)
			}
		})
	}
}

func TestRunBadRowsSampleAndFixedErrorsFile(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	in := ingesttest.CopySample(t, "create-bad-rows.csv", dir)
	mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{}, 5)
	good := []string{"打印机无法连接", "退款进度查询", "快递破损", "账户余额不对"}
	got := ingesttest.TicketsBySubject(sim)
	for _, s := range good {
		if len(got[s]) != 1 {
			t.Errorf("good row %q: %d tickets", s, len(got[s]))
		}
	}
	if len(sim.Tickets()) != len(good) {
		t.Errorf("%d tickets, want %d", len(sim.Tickets()), len(good))
	}
	errFile := filepath.Join(ingesttest.ResultsDir(t, in, "create-results"), "errors.csv")
	errs := ingesttest.ReadCSV(t, errFile)
	header := errs[0]
	if strings.Join(header, ",") != "subject,content,email,status,priority,下拉列表字段,单选框字段,多选框字段,日期字段,链接字段,error_code,error_message" {
		t.Fatalf("errors.csv header: %v", header)
	}
	// Exactly the bad rows, in file order, each with what is wrong.
	want := []struct{ subject, msg string }{
		{"发票抬头有误", "下拉选项9"},
		{"会员无法登录", "2026-13-45"},
		{"", "subject"},
		{"修改收货地址", "pending"},
		{"网站打不开", "www.example.com"},
	}
	if len(errs)-1 != len(want) {
		t.Fatalf("errors.csv has %d rows, want %d: %v", len(errs)-1, len(want), errs)
	}
	for i, w := range want {
		rec := errs[i+1]
		if rec[0] != w.subject || rec[10] != ingest.CodeInvalid || !strings.Contains(rec[11], w.msg) || !strings.HasPrefix(rec[11], "row ") {
			t.Errorf("errors.csv row %d: %v, want subject %q and a message naming %q", i+1, rec, w.subject, w.msg)
		}
	}

	// Fix the rows in errors.csv (same columns, error columns kept) and import it.
	fixes := map[string]func([]string){
		"发票抬头有误": func(r []string) { r[5] = "下拉选项3" },
		"会员无法登录": func(r []string) { r[8] = "2026-12-15" },
		"":       func(r []string) { r[0] = "补上的标题" },
		"修改收货地址": func(r []string) { r[3] = "解决中" },
		"网站打不开":  func(r []string) { r[9] = "https://www.example.com" },
	}
	for _, r := range errs[1:] {
		fixes[r[0]](r)
	}
	fixed := filepath.Join(dir, "fixed.csv")
	ingesttest.WriteCSV(t, fixed, errs)
	mustImport(t, sim, mapping.Create, ingest.Input{Path: fixed}, ingest.Options{}, 0)
	got = ingesttest.TicketsBySubject(sim)
	if len(sim.Tickets()) != 9 || len(got["补上的标题"]) != 1 || got["修改收货地址"][0].Status != "solving" ||
		got["网站打不开"][0].CustomFields["TextField_6"] != "https://www.example.com" || got["发票抬头有误"][0].CustomFields["SelectField_1"] != "2" {
		t.Fatalf("after the fixed import: %d tickets %+v", len(sim.Tickets()), got)
	}
}

func TestPlan(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	in := ingesttest.CopySample(t, "create-bad-rows.csv", dir)
	res := filepath.Join(dir, "plan")
	p, err := ingest.Plan(context.Background(), newClient(t, sim), ingest.Input{Path: in}, ingest.Options{Op: mapping.Create, Results: res})
	if err != nil {
		t.Fatal(err)
	}
	if p.Read != 9 || p.Creates != 4 || p.Writes() != 4 || p.Failed != 5 || p.ErrorsFile != filepath.Join(res, "errors.csv") {
		t.Fatalf("plan: %+v", p)
	}
	if n := len(sim.Tickets()); n != 0 {
		t.Fatalf("a dry run created %d tickets", n)
	}
	reqs := sim.Requests()
	if len(reqs) != 1 || reqs[udesktest.EndpointFields] != 1 {
		t.Fatalf("a dry run may only read the catalog: %v", reqs)
	}
	budget, _ := udesk.ParseRate("60/min")
	var out bytes.Buffer
	p.Print(&out, budget, "60/min")
	for _, want := range []string{"9 rows read, 4 would be sent, 5 rejected", "4 creates", "API calls: 4 writes", "at the budget of 60/min"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out.String())
		}
	}
	if errs := ingesttest.ReadCSV(t, filepath.Join(res, "errors.csv")); len(errs) != 6 {
		t.Errorf("dry-run errors.csv: %d rows", len(errs))
	}
	if _, err := os.Stat(filepath.Join(dir, ".udesk-etl")); !os.IsNotExist(err) {
		t.Errorf("a dry run must keep no state: %v", err)
	}
}

func TestRunRerunFreshAndChangedInput(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	in := filepath.Join(dir, "t.csv")
	recs := [][]string{{"subject", "content", "email"}, {"one", "c", "a@example.com"}, {"two", "c", "a@example.com"}}
	ingesttest.WriteCSV(t, in, recs)
	mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{}, 0)
	// The same import again: nothing is sent twice.
	var l pipelinetest.Log
	rep, err := runImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{Observer: &l})
	if err != nil || !rep.AlreadyImported || !strings.Contains(l.String(), "already imported") || !strings.Contains(l.String(), "--fresh") {
		t.Fatalf("re-run: %v, %+v: %s", err, rep, l.String())
	}
	if len(sim.Tickets()) != 2 || sim.Requests()[udesktest.EndpointCreate] != 2 {
		t.Fatalf("re-run sent writes: %v", sim.Requests())
	}
	// A changed input with the same name: refused.
	ingesttest.WriteCSV(t, in, append(recs, []string{"three", "c", "a@example.com"}))
	_, err = runImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{})
	var ce *pipeline.ConfigError
	var ice *ingest.InputChangedError
	if !errors.As(err, &ce) || !errors.As(err, &ice) || ice.Sent != 2 || ice.Written != 2 ||
		!strings.Contains(err.Error(), "changed") || !strings.Contains(err.Error(), "--fresh") || !strings.Contains(err.Error(), "2 rows already sent") {
		t.Fatalf("changed input: %v", err)
	}
	mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{Fresh: true}, 0)
	if len(sim.Tickets()) != 5 {
		t.Fatalf("Fresh: %d tickets", len(sim.Tickets()))
	}
}

// What the user must fix is a *pipeline.ConfigError, found before any write.
func TestRunConfigErrorsBeforeAnyWrite(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	in := filepath.Join(dir, "t.csv")
	ingesttest.WriteCSV(t, in, [][]string{{"subject", "content", "colour", "shoe size"}, {"a", "b", "red", "42"}})
	badMap := filepath.Join(dir, "map.yaml")
	os.WriteFile(badMap, []byte("columns: [this is not: a mapping"), 0o644)
	for _, tc := range []struct {
		name string
		op   mapping.OpKind
		in   ingest.Input
		opts ingest.Options
		want string
	}{
		{"unknown columns", mapping.Create, ingest.Input{Path: in}, ingest.Options{}, "colour"},
		{"missing input", mapping.Create, ingest.Input{Path: filepath.Join(dir, "none.csv")}, ingest.Options{}, "none.csv"},
		{"bad mapping", mapping.Create, ingest.Input{Path: in, MappingFile: badMap}, ingest.Options{}, "map.yaml"},
		{"marker on update", mapping.Update, ingest.Input{Path: in}, ingest.Options{MarkerField: "TextField_1"}, "--create only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := runImport(t, sim, tc.op, tc.in, tc.opts)
			var ce *pipeline.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || rep != nil {
				t.Fatalf("got %v (%T), report %v; want a ConfigError naming %q", err, err, rep, tc.want)
			}
		})
	}
	for ep, n := range sim.Requests() {
		if ep != udesktest.EndpointFields {
			t.Errorf("%d requests to %s before a config error", n, ep)
		}
	}
}

func TestRunMarkerField(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	in := filepath.Join(t.TempDir(), "m.csv")
	ingesttest.WriteCSV(t, in, [][]string{{"subject", "content", "email"}, {"m1", "c", "a@example.com"}, {"m2", "c", "a@example.com"}})
	mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{MarkerField: "单行文本字段"}, 0)
	var markers []string
	for _, tk := range sim.Tickets() {
		markers = append(markers, tk.CustomFields["TextField_1"])
	}
	sort.Strings(markers)
	if len(markers) != 2 || !strings.HasPrefix(markers[0], "udesk-etl:") || !strings.HasSuffix(markers[0], ":2") || !strings.HasSuffix(markers[1], ":3") {
		t.Fatalf("markers: %q", markers)
	}
}

func TestRunResendUnknown(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 3, Seed: 1})
	tk, _ := sim.Ticket(2)
	in := filepath.Join(t.TempDir(), "r.csv")
	ingesttest.WriteCSV(t, in, [][]string{{"id", "reply_content", "email"}, {"2", "first", tk.UserEmail}, {"2", "second", tk.UserEmail}})
	// The first reply is processed but its answer is lost.
	sim.FailNext(udesktest.EndpointReply, udesktest.FaultResetAfter, 1)
	rep := mustImport(t, sim, mapping.Reply, ingest.Input{Path: in}, ingest.Options{Concurrency: 1}, 1)
	if rep.Facts["outcome_unknown"] != 1 || !strings.Contains(strings.Join(rep.Notes, "\n"), "unknown outcome") {
		t.Fatalf("report: %+v", rep)
	}
	errs := ingesttest.ReadCSV(t, filepath.Join(ingesttest.ResultsDir(t, in, "reply-results"), "errors.csv"))
	if len(errs) != 2 || errs[1][1] != "first" || errs[1][3] != ingest.CodeOutcomeUnknown || !strings.Contains(errs[1][4], "--resend-unknown") {
		t.Fatalf("errors.csv: %v", errs)
	}
	// Re-running does not resend it...
	if rep, err := runImport(t, sim, mapping.Reply, ingest.Input{Path: in}, ingest.Options{}); err != nil || !rep.AlreadyImported {
		t.Fatalf("re-run: %v %+v", err, rep)
	}
	if n := len(sim.Replies(2)); n != 2 {
		t.Fatalf("%d replies after the re-run, want 2", n)
	}
	// ...unless asked to: then only the unknown row is sent again.
	mustImport(t, sim, mapping.Reply, ingest.Input{Path: in}, ingest.Options{ResendUnknown: true}, 0)
	var bodies []string
	for _, r := range sim.Replies(2) {
		bodies = append(bodies, r.Body)
	}
	if strings.Join(bodies, ",") != "first,second,first" {
		t.Fatalf("replies: %v", bodies)
	}
}

// The import samples are valid as shipped (create-bad-rows.csv has its five
// bad rows on purpose).
func TestPlanSamples(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	for _, tc := range []struct {
		file             string
		op               mapping.OpKind
		writes, rejected int64
	}{
		{"create-tickets.csv", mapping.Create, 2, 0},
		{"update-tickets.csv", mapping.Update, 2, 0},
		{"reply-tickets.csv", mapping.Reply, 1, 0},
		{"create-bad-rows.csv", mapping.Create, 4, 5},
	} {
		in := ingesttest.CopySample(t, tc.file, dir)
		p, err := ingest.Plan(context.Background(), newClient(t, sim), ingest.Input{Path: in}, ingest.Options{Op: tc.op})
		if err != nil || p.Writes() != tc.writes || p.Failed != tc.rejected {
			t.Errorf("%s: %v, plan %+v; want %d writes, %d rejected", tc.file, err, p, tc.writes, tc.rejected)
		}
	}
}

// A workbook whose export rolled over into several sheets is not imported
// from its first sheet alone: the user is told to name each sheet.
func TestPlanRolledOverWorkbookNeedsSheet(t *testing.T) {
	s := newSim(t, udesktest.Options{Tickets: 2, Seed: 1})
	path := filepath.Join(t.TempDir(), "big.xlsx")
	f := excelize.NewFile()
	for _, sh := range []string{"Tickets", "Tickets 2"} {
		if _, err := f.NewSheet(sh); err != nil {
			t.Fatal(err)
		}
		f.SetSheetRow(sh, "A1", &[]any{"subject", "content", "email"})
		f.SetSheetRow(sh, "A2", &[]any{"in " + sh, "c", "test@sample.com"})
	}
	f.DeleteSheet("Sheet1")
	f.NewSheet("_udesk_meta")
	f.SetSheetRow("_udesk_meta", "A1", &[]any{"key", "value"})
	f.SetSheetRow("_udesk_meta", "A2", &[]any{"data_sheets", "Tickets,Tickets 2"})
	f.SetSheetVisible("_udesk_meta", false)
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	plan := func(sheet string) (*ingest.PlanReport, error) {
		return ingest.Plan(context.Background(), newClient(t, s), ingest.Input{Path: path, Sheet: sheet}, ingest.Options{Op: mapping.Create, Results: t.TempDir()})
	}
	var ce *pipeline.ConfigError
	if _, err := plan(""); !errors.As(err, &ce) || !strings.Contains(err.Error(), "--sheet") || !strings.Contains(err.Error(), "Tickets 2") {
		t.Errorf("no sheet: %v, want a ConfigError naming the sheets", err)
	}
	if p, err := plan("Tickets 2"); err != nil || p.Creates != 1 || p.Failed != 0 {
		t.Errorf("sheet \"Tickets 2\": %v %+v", err, p)
	}
}

// A CSV row with more or fewer cells than the header is rejected as
// ragged_row, naming both counts; the rows around it are created.
func TestRunRaggedRows(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	in := filepath.Join(t.TempDir(), "ragged.csv")
	ingesttest.WriteCSV(t, in, [][]string{
		{"subject", "content", "email"},
		{"good one", "x", "a@example.com"},
		{"too long", "x", "a@example.com", "extra", "more"},
		{"too short", "x"},
		{"good two", "x", "a@example.com"},
	})
	mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{}, 2)
	got := ingesttest.TicketsBySubject(sim)
	if len(got["good one"]) != 1 || len(got["good two"]) != 1 || len(sim.Tickets()) != 2 {
		t.Errorf("tickets: %+v", sim.Tickets())
	}
	errs := ingesttest.ReadCSV(t, filepath.Join(ingesttest.ResultsDir(t, in, "create-results"), "errors.csv"))
	col := map[string]int{}
	for i, h := range errs[0] {
		col[h] = i
	}
	want := map[string]string{ // subject -> message
		"too long":  "row 3: the row has 5 cells but the header has 3 columns",
		"too short": "row 4: the row has 2 cells but the header has 3 columns",
	}
	if len(errs) != 3 {
		t.Fatalf("errors.csv: %v", errs)
	}
	for _, e := range errs[1:] {
		subject := e[col["subject"]]
		if e[col["error_code"]] != ingest.CodeRaggedRow || e[col["error_message"]] != want[subject] {
			t.Errorf("errors.csv row %q: code %q message %q, want %q %q", subject, e[col["error_code"]], e[col["error_message"]], ingest.CodeRaggedRow, want[subject])
		}
	}
}

// A note of the reader (a pandas index column it ignored) reaches the
// reports of import, the dry run and convert, which the summary prints.
func TestReportsCarryReaderNotes(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	in := filepath.Join(dir, "pandas.csv")
	ingesttest.WriteCSV(t, in, [][]string{
		{"", "subject", "content", "email"},
		{"0", "indexed", "x", "a@example.com"},
	})
	hasNote := func(what string, notes []string) {
		t.Helper()
		for _, n := range notes {
			if strings.Contains(n, in) && strings.Contains(n, "pandas") {
				return
			}
		}
		t.Errorf("%s: notes %q lack the pandas index column's", what, notes)
	}
	p, err := ingest.Plan(context.Background(), newClient(t, sim), ingest.Input{Path: in}, ingest.Options{Op: mapping.Create, Results: filepath.Join(dir, "plan")})
	if err != nil {
		t.Fatal(err)
	}
	hasNote("plan", p.Notes)
	fields, err := udesk.ReadFields(bytes.NewReader(udesktest.FieldsReply()))
	if err != nil {
		t.Fatal(err)
	}
	conv, err := ingest.Convert(context.Background(), ingest.Input{Path: in}, ingest.ConvertOptions{Op: mapping.Create, Catalog: mapping.NewCatalog(fields), Output: filepath.Join(dir, "out.csv")})
	if err != nil {
		t.Fatal(err)
	}
	hasNote("convert", conv.Notes)
	rep := mustImport(t, sim, mapping.Create, ingest.Input{Path: in}, ingest.Options{}, 0)
	hasNote("import", rep.Notes)
	if got := ingesttest.TicketsBySubject(sim)["indexed"]; len(got) != 1 {
		t.Errorf("tickets: %+v", sim.Tickets())
	}
}
