package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/udesk-etl/udesk-etl/pipeline/ingest"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// readCSV reads a results file, checking its BOM and mode.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if !bytes.HasPrefix(b, []byte("\uFEFF")) {
		t.Errorf("%s: no UTF-8 BOM", path)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

func writeCSVTest(t *testing.T, path string, recs [][]string) {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.WriteAll(recs)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeXLSXTest(t *testing.T, path string, recs [][]string) {
	t.Helper()
	f := excelize.NewFile()
	for r, rec := range recs {
		for c, v := range rec {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
			f.SetCellStr("Sheet1", cell, v)
		}
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

func writeJSONLTest(t *testing.T, path string, recs [][]string) {
	t.Helper()
	var b bytes.Buffer
	for _, rec := range recs[1:] {
		// Keys in header order: encoding/json sorts map keys, which is fine
		// for a reader that matches columns by name.
		m := map[string]string{}
		for i, h := range recs[0] {
			if rec[i] != "" {
				m[h] = rec[i]
			}
		}
		line, _ := json.Marshal(m)
		b.Write(append(line, '\n'))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeGBKTest(t *testing.T, path string, recs [][]string) {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.WriteAll(recs)
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, gbk, 0o644); err != nil {
		t.Fatal(err)
	}
}

// resultsDir finds the one results folder beside input.
func resultsDir(t *testing.T, input, what string) string {
	t.Helper()
	stem := strings.TrimSuffix(filepath.Base(input), filepath.Ext(input))
	m, _ := filepath.Glob(filepath.Join(filepath.Dir(input), stem+"."+what+"-*"))
	if len(m) != 1 {
		t.Fatalf("results folders for %s: %v", input, m)
	}
	return m[0]
}

func ticketsBySubject(s *udesktest.Server) map[string][]udesktest.Ticket {
	m := map[string][]udesktest.Ticket{}
	for _, tk := range s.Tickets() {
		m[tk.Subject] = append(m[tk.Subject], tk)
	}
	return m
}

var writers = []struct {
	name, ext string
	write     func(*testing.T, string, [][]string)
	args      []string
}{
	{"csv", ".csv", writeCSVTest, nil},
	{"gbk-csv", ".csv", writeGBKTest, []string{"--encoding", "gbk"}},
	{"xlsx", ".xlsx", writeXLSXTest, nil},
	{"jsonl", ".jsonl", writeJSONLTest, nil},
}

func TestImportCreateEndToEnd(t *testing.T) {
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
			args := append([]string{"import", "--create", "-i", in, "--quiet"}, wr.args...)
			code, _, stderr := runCLI(t, simEnv(sim), args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got := ticketsBySubject(sim)
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
			if c[0].Status != "open" || c[0].Priority != "标准" || c[0].Content != "=SUM(A1)" || c[0].CustomFields["SelectField_3"] != "1" {
				t.Errorf("ticket c (defaults, formula escape undone): %+v", c[0])
			}
			// The customer lookup: both of li.lei's tickets go to one customer.
			if a[0].UserEmail != "li.lei@example.com" || b[0].User != a[0].User || c[0].UserEmail != "han.meimei@example.com" {
				t.Errorf("customers: %q/%q %q/%q %q", a[0].User, a[0].UserEmail, b[0].User, b[0].UserEmail, c[0].UserEmail)
			}
			res := resultsDir(t, in, "create-results")
			ok := readCSV(t, filepath.Join(res, "success.csv"))
			// Rows are the file's own numbers: CSV lines (row 2 spans two
			// lines), XLSX rows, JSON lines (no header line).
			rows := map[string][]int{"csv": {2, 4, 5}, "gbk-csv": {2, 4, 5}, "xlsx": {2, 3, 4}, "jsonl": {1, 2, 3}}[wr.name]
			want := [][]string{{"row", "ticket_id", "action"}}
			for i, tk := range []udesktest.Ticket{a[0], b[0], c[0]} {
				want = append(want, []string{fmt.Sprint(rows[i]), fmt.Sprint(tk.ID), "created"})
			}
			if fmt.Sprint(ok) != fmt.Sprint(want) {
				t.Errorf("success.csv %v, want %v", ok, want)
			}
			if errs := readCSV(t, filepath.Join(res, "errors.csv")); len(errs) != 1 {
				t.Errorf("errors.csv: %v", errs)
			}
		})
	}
}

func TestImportCreateSelectIndexes(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	in := filepath.Join(t.TempDir(), "idx.csv")
	writeCSVTest(t, in, [][]string{
		{"subject", "content", "email", "SelectField_1", "SelectField_3"},
		{"by index", "x", "a@example.com", "2", "1,2"},
		{"bad index", "x", "a@example.com", "7", ""},
	})
	code, _, stderr := runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--select-values", "indexes", "--quiet")
	if code != exitRejected {
		t.Fatalf("exit %d, want 3: %s", code, stderr)
	}
	got := ticketsBySubject(sim)["by index"]
	if len(got) != 1 || got[0].CustomFields["SelectField_1"] != "2" || got[0].CustomFields["SelectField_3"] != "1,2" {
		t.Fatalf("tickets: %+v", sim.Tickets())
	}
	errs := readCSV(t, filepath.Join(resultsDir(t, in, "create-results"), "errors.csv"))
	if len(errs) != 2 || errs[1][0] != "bad index" || errs[1][5] != ingest.CodeInvalid || !strings.Contains(errs[1][6], "SelectField_1") {
		t.Fatalf("errors.csv: %v", errs)
	}
}

func TestImportUpdateAndReplyEndToEnd(t *testing.T) {
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
			code, _, stderr := runCLI(t, simEnv(sim), append([]string{"import", "--update", "-i", upd, "--quiet"}, wr.args...)...)
			if code != exitOK {
				t.Fatalf("update: exit %d: %s", code, stderr)
			}
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
			code, _, stderr = runCLI(t, simEnv(sim), append([]string{"import", "--reply", "-i", rep, "--quiet"}, wr.args...)...)
			if code != exitRejected {
				t.Fatalf("reply: exit %d, want 3: %s", code, stderr)
			}
			if r := sim.Replies(1); len(r) != 1 || r[0].Kind != "customer" || r[0].Body != "谢谢，问题已经解决了" {
				t.Errorf("ticket 1 replies: %+v", r)
			}
			errs := readCSV(t, filepath.Join(resultsDir(t, rep, "reply-results"), "errors.csv"))
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

// copySample copies a file of samples/ into dir.
func copySample(t *testing.T, name, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportBadRowsSampleAndFixedErrorsFile(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	in := copySample(t, "create-bad-rows.csv", dir)
	code, _, stderr := runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--quiet")
	if code != exitRejected {
		t.Fatalf("exit %d, want 3: %s", code, stderr)
	}
	good := []string{"打印机无法连接", "退款进度查询", "快递破损", "账户余额不对"}
	got := ticketsBySubject(sim)
	for _, s := range good {
		if len(got[s]) != 1 {
			t.Errorf("good row %q: %d tickets", s, len(got[s]))
		}
	}
	if len(sim.Tickets()) != len(good) {
		t.Errorf("%d tickets, want %d", len(sim.Tickets()), len(good))
	}
	errFile := filepath.Join(resultsDir(t, in, "create-results"), "errors.csv")
	errs := readCSV(t, errFile)
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
	t.Logf("errors.csv messages:\n%s", func() string {
		var b strings.Builder
		for _, r := range errs[1:] {
			b.WriteString("  " + r[11] + "\n")
		}
		return b.String()
	}())

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
	writeCSVTest(t, fixed, errs)
	code, _, stderr = runCLI(t, simEnv(sim), "import", "--create", "-i", fixed, "--quiet")
	if code != exitOK {
		t.Fatalf("re-import of the fixed errors.csv: exit %d: %s", code, stderr)
	}
	got = ticketsBySubject(sim)
	if len(sim.Tickets()) != 9 || len(got["补上的标题"]) != 1 || got["修改收货地址"][0].Status != "solving" ||
		got["网站打不开"][0].CustomFields["TextField_6"] != "https://www.example.com" || got["发票抬头有误"][0].CustomFields["SelectField_1"] != "2" {
		t.Fatalf("after the fixed import: %d tickets %+v", len(sim.Tickets()), got)
	}
}

func TestImportDryRun(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	in := copySample(t, "create-bad-rows.csv", dir)
	res := filepath.Join(dir, "plan")
	env := simEnv(sim)
	env["UDESK_RATE"] = "60/min"
	code, stdout, stderr := runCLI(t, env, "import", "--create", "-i", in, "--dry-run", "--results", res, "--quiet")
	if code != exitRejected {
		t.Fatalf("exit %d, want 3: %s", code, stderr)
	}
	if n := len(sim.Tickets()); n != 0 {
		t.Fatalf("a dry run created %d tickets", n)
	}
	reqs := sim.Requests()
	if len(reqs) != 1 || reqs[udesktest.EndpointFields] != 1 {
		t.Fatalf("a dry run may only read the catalog: %v", reqs)
	}
	for _, want := range []string{"9 rows read, 4 would be sent, 5 rejected", "4 creates", "API calls: 4 writes", "at the budget of 60/min"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout)
		}
	}
	if errs := readCSV(t, filepath.Join(res, "errors.csv")); len(errs) != 6 {
		t.Errorf("dry-run errors.csv: %d rows", len(errs))
	}
	if _, err := os.Stat(filepath.Join(dir, ".udesk-etl")); !os.IsNotExist(err) {
		t.Errorf("a dry run must keep no state: %v", err)
	}
}

func TestImportRerunFreshAndChangedInput(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	in := filepath.Join(dir, "t.csv")
	recs := [][]string{{"subject", "content", "email"}, {"one", "c", "a@example.com"}, {"two", "c", "a@example.com"}}
	writeCSVTest(t, in, recs)
	env := simEnv(sim)
	if code, _, stderr := runCLI(t, env, "import", "--create", "-i", in, "--quiet"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The same command again: nothing is sent twice.
	code, _, stderr := runCLI(t, env, "import", "--create", "-i", in, "--quiet")
	if code != exitOK || !strings.Contains(stderr, "already imported") || !strings.Contains(stderr, "--fresh") {
		t.Fatalf("re-run: exit %d: %s", code, stderr)
	}
	if len(sim.Tickets()) != 2 || sim.Requests()[udesktest.EndpointCreate] != 2 {
		t.Fatalf("re-run sent writes: %v", sim.Requests())
	}
	// A changed input with the same name: refused.
	writeCSVTest(t, in, append(recs, []string{"three", "c", "a@example.com"}))
	code, _, stderr = runCLI(t, env, "import", "--create", "-i", in, "--quiet")
	if code != exitUsage || !strings.Contains(stderr, "changed") || !strings.Contains(stderr, "--fresh") || !strings.Contains(stderr, "2 rows already sent") {
		t.Fatalf("changed input: exit %d: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, env, "import", "--create", "-i", in, "--fresh", "--quiet")
	if code != exitOK || len(sim.Tickets()) != 5 {
		t.Fatalf("--fresh: exit %d, %d tickets: %s", code, len(sim.Tickets()), stderr)
	}
}

func TestImportUsageErrorsBeforeAnyWrite(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	in := filepath.Join(dir, "t.csv")
	writeCSVTest(t, in, [][]string{{"subject", "content", "colour", "shoe size"}, {"a", "b", "red", "42"}})
	badMap := filepath.Join(dir, "map.yaml")
	os.WriteFile(badMap, []byte("columns: [this is not: a mapping"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown columns", []string{"--create", "-i", in}, "colour"},
		{"missing input", []string{"--create", "-i", filepath.Join(dir, "none.csv")}, "none.csv"},
		{"bad mapping", []string{"--create", "-i", in, "--mapping", badMap}, "map.yaml"},
		{"no operation", []string{"-i", in}, "--create"},
		{"two operations", []string{"--create", "--reply", "-i", in}, "one of"},
		{"marker on update", []string{"--update", "-i", in, "--marker-field", "TextField_1"}, "--create only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, simEnv(sim), append([]string{"import", "--quiet"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want 2 naming %q: %s", code, tc.want, stderr)
			}
		})
	}
	for ep, n := range sim.Requests() {
		if ep != udesktest.EndpointFields {
			t.Errorf("%d requests to %s before a usage error", n, ep)
		}
	}
}

func TestImportMarkerField(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	in := filepath.Join(t.TempDir(), "m.csv")
	writeCSVTest(t, in, [][]string{{"subject", "content", "email"}, {"m1", "c", "a@example.com"}, {"m2", "c", "a@example.com"}})
	code, _, stderr := runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--marker-field", "单行文本字段", "--quiet")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var markers []string
	for _, tk := range sim.Tickets() {
		markers = append(markers, tk.CustomFields["TextField_1"])
	}
	sort.Strings(markers)
	if len(markers) != 2 || !strings.HasPrefix(markers[0], "udesk-etl:") || !strings.HasSuffix(markers[0], ":2") || !strings.HasSuffix(markers[1], ":3") {
		t.Fatalf("markers: %q", markers)
	}
}

func TestConvert(t *testing.T) {
	dir := t.TempDir()
	fields, err := udesk.ReadFields(bytes.NewReader(udesktest.FieldsReply()))
	if err != nil {
		t.Fatal(err)
	}
	var fb bytes.Buffer
	udesk.WriteFields(&fb, fields)
	fpath := filepath.Join(dir, "fields.json")
	os.WriteFile(fpath, fb.Bytes(), 0o644)
	in := copySample(t, "create-bad-rows.csv", dir)
	for _, ext := range []string{".csv", ".jsonl"} {
		out := filepath.Join(dir, "mapped"+ext)
		// No URL or secret: --fields makes convert work offline.
		code, _, stderr := runCLI(t, nil, "convert", "-i", in, "-o", out, "--fields", fpath, "--quiet")
		if code != exitRejected {
			t.Fatalf("%s: exit %d, want 3: %s", ext, code, stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if ext == ".jsonl" {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			var first map[string]any
			json.Unmarshal([]byte(lines[0]), &first)
			if len(lines) != 4 || first["subject"] != "打印机无法连接" || first["status"] != "打开" || first["priority"] != "高" ||
				first["SelectField_1"] != "0" || first["SelectField_3"] != "0,3" || first["email"] != "li.lei@example.com" {
				t.Fatalf("jsonl: %d lines, first %v", len(lines), first)
			}
			continue
		}
		recs := readCSVLoose(t, b)
		if strings.Join(recs[0][:7], ",") != "subject,content,email,cellphone,customer_token,status,priority" || len(recs) != 5 {
			t.Fatalf("csv header %v, %d records", recs[0], len(recs))
		}
		// English names in the input become the Chinese names a create takes.
		if recs[2][0] != "退款进度查询" || recs[2][5] != "解决中" || recs[2][6] != "紧急" {
			t.Fatalf("row 2: %v", recs[2])
		}
		errs := readCSV(t, filepath.Join(dir, "mapped.errors.csv"))
		if len(errs) != 6 {
			t.Fatalf("errors file: %v", errs)
		}
	}
	// The update form: English names, select labels.
	upd := filepath.Join(dir, "u.csv")
	writeCSVTest(t, upd, [][]string{{"id", "status", "priority", "下拉列表字段"}, {"5", "已解决", "高", "1"}})
	out := filepath.Join(dir, "u.out.jsonl")
	if code, _, stderr := runCLI(t, nil, "convert", "--update", "-i", upd, "-o", out, "--fields", fpath, "--select-values", "indexes", "--quiet"); code != exitOK {
		t.Fatalf("convert --update: exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(out)
	var row map[string]any
	json.Unmarshal(b, &row)
	if row["id"] != "5" || row["status"] != "resolved" || row["priority"] != "high" || row["SelectField_1"] != "下拉选项2" {
		t.Fatalf("update row: %v", row)
	}
}

func readCSVLoose(t *testing.T, b []byte) [][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestImportKeepsToTheBudget(t *testing.T) {
	// 200 ms per request and 4 in flight could do 20/s: the budget (10/s on
	// both sides) is what limits; the import must keep to it without a 429.
	// How much of it the import uses is measured by BenchmarkImportBudget.
	rate, throttled := importAtBudget(t, 30)
	t.Logf("30 creates at %.2f/s of a 10/s budget (%.0f%%)", rate, rate*10)
	if throttled != 0 {
		t.Errorf("%d replies 429, want none", throttled)
	}
	if rate > 10.5 {
		t.Errorf("creates came at %.2f/s, faster than the 10/s budget", rate)
	}
}

// BenchmarkImportBudget reports the share of a 10/s budget a create import of
// 300 rows uses with 200 ms latency and concurrency 4 (target >= 0.90).
func BenchmarkImportBudget(b *testing.B) {
	for b.Loop() {
		rate, throttled := importAtBudget(b, 300)
		b.ReportMetric(rate/10, "budget-used")
		b.ReportMetric(float64(throttled), "429s")
	}
}

// importAtBudget creates n tickets against a simulator whose budget, like the
// tool's, is 10/s, and returns the creates' arrival rate and the 429 count.
func importAtBudget(tb testing.TB, n int) (rate float64, throttled int) {
	sim, err := udesktest.NewServer(udesktest.Options{Rate: 10, Latency: 200 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	defer sim.Close()
	in := filepath.Join(tb.TempDir(), "budget.csv")
	csv := "subject,content,email\n"
	for i := 0; i < n; i++ {
		csv += fmt.Sprintf("budget-%d,c,b@example.com\n", i)
	}
	if err := os.WriteFile(in, []byte(csv), 0o600); err != nil {
		tb.Fatal(err)
	}
	env := simEnv(sim)
	a := &app{stdout: discard{}, stderr: discard{}, getenv: func(k string) string { return env[k] }}
	if code := run(context.Background(), a, []string{"import", "--create", "-i", in, "--rate", "10/s", "--concurrency", "4", "--quiet"}); code != exitOK {
		tb.Fatalf("import: exit %d", code)
	}
	var first, last time.Time
	creates := 0
	for _, r := range sim.Log() {
		if r.Status == 429 {
			throttled++
		}
		if r.Endpoint == udesktest.EndpointCreate {
			if creates == 0 {
				first = r.Time
			}
			last = r.Time
			creates++
		}
	}
	if creates != n {
		tb.Fatalf("%d creates for %d rows", creates, n)
	}
	return float64(n-1) / last.Sub(first).Seconds(), throttled
}

// BenchmarkImportDryRun measures validation (read, map, check) of a 100k-row
// CSV through the whole dry-run command; the only request is the catalog.
func BenchmarkImportDryRun(b *testing.B) {
	sim, err := udesktest.NewServer(udesktest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	dir := b.TempDir()
	in := filepath.Join(dir, "big.csv")
	const rows = 100_000
	var buf bytes.Buffer
	buf.WriteString("subject,content,email,status,priority,下拉列表字段,多选框字段,日期字段,日期时间字段,链接字段,正整数字段\n")
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&buf, "工单 %d,第 %d 行的内容,user%d@example.com,%s,%s,下拉选项%d,\"多选框选项1,多选框选项%d\",2026-11-%02d,2026-11-01 09:%02d,https://example.com/%d,%d\n",
			i, i, i%1000, []string{"打开", "solving", "已解决"}[i%3], []string{"高", "low", "标准"}[i%3], i%3+1, i%4+1, i%28+1, i%60, i, i%100+1)
	}
	os.WriteFile(in, buf.Bytes(), 0o644)
	env := simEnv(sim)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var stdout, stderr bytes.Buffer
		a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }}
		if code := run(context.Background(), a, []string{"import", "--create", "-i", in, "--dry-run", "--results", filepath.Join(dir, "plan"), "--quiet"}); code != exitOK {
			b.Fatalf("exit %d: %s", code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "100000 would be sent") {
			b.Fatalf("plan: %s", stdout.String())
		}
	}
	b.ReportMetric(float64(rows*b.N)/time.Since(start).Seconds(), "rows/s")
}

func TestImportResendUnknown(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 3, Seed: 1})
	tk, _ := sim.Ticket(2)
	in := filepath.Join(t.TempDir(), "r.csv")
	writeCSVTest(t, in, [][]string{{"id", "reply_content", "email"}, {"2", "first", tk.UserEmail}, {"2", "second", tk.UserEmail}})
	// The first reply is processed but its answer is lost.
	sim.FailNext(udesktest.EndpointReply, udesktest.FaultResetAfter, 1)
	env := simEnv(sim)
	code, _, stderr := runCLI(t, env, "import", "--reply", "-i", in, "--concurrency", "1", "--quiet")
	if code != exitRejected || !strings.Contains(stderr, "unknown outcome") {
		t.Fatalf("exit %d, want 3: %s", code, stderr)
	}
	errs := readCSV(t, filepath.Join(resultsDir(t, in, "reply-results"), "errors.csv"))
	if len(errs) != 2 || errs[1][1] != "first" || errs[1][3] != "outcome_unknown" || !strings.Contains(errs[1][4], "--resend-unknown") {
		t.Fatalf("errors.csv: %v", errs)
	}
	// Re-running does not resend it...
	if code, _, stderr := runCLI(t, env, "import", "--reply", "-i", in, "--quiet"); code != exitOK || !strings.Contains(stderr, "already imported") {
		t.Fatalf("re-run: exit %d: %s", code, stderr)
	}
	if n := len(sim.Replies(2)); n != 2 {
		t.Fatalf("%d replies after the re-run, want 2", n)
	}
	// ...unless asked to: then only the unknown row is sent again.
	if code, _, stderr := runCLI(t, env, "import", "--reply", "-i", in, "--resend-unknown", "--quiet"); code != exitOK {
		t.Fatalf("--resend-unknown: exit %d: %s", code, stderr)
	}
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
func TestImportSamplesDryRun(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	for _, tc := range []struct{ file, op, plan string }{
		{"create-tickets.csv", "--create", "2 would be sent, 0 rejected"},
		{"update-tickets.csv", "--update", "2 would be sent, 0 rejected"},
		{"reply-tickets.csv", "--reply", "1 would be sent, 0 rejected"},
		{"create-bad-rows.csv", "--create", "4 would be sent, 5 rejected"},
	} {
		in := copySample(t, tc.file, dir)
		_, stdout, stderr := runCLI(t, simEnv(sim), "import", tc.op, "-i", in, "--dry-run", "--quiet")
		if !strings.Contains(stdout, tc.plan) {
			t.Errorf("%s: plan %q, want %q (%s)", tc.file, stdout, tc.plan, stderr)
		}
	}
}

// A workbook whose export rolled over into several sheets is not imported
// from its first sheet alone: the user is told to name each sheet.
func TestImportRolledOverWorkbookNeedsSheet(t *testing.T) {
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
	code, _, stderr := runCLI(t, simEnv(s), "import", "--create", "-i", path, "--dry-run", "--quiet")
	if code != exitUsage || !strings.Contains(stderr, "--sheet") || !strings.Contains(stderr, "Tickets 2") {
		t.Errorf("no --sheet: exit %d, want 2 naming the sheets:\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, simEnv(s), "import", "--create", "-i", path, "--sheet", "Tickets 2", "--dry-run", "--quiet"); code != exitOK {
		t.Errorf("--sheet \"Tickets 2\": exit %d:\n%s", code, stderr)
	}
}
