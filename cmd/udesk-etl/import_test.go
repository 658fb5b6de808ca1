package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/ingest/ingesttest"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// Shared with the tests of package ingest.
var (
	readCSV          = ingesttest.ReadCSV
	writeCSVTest     = ingesttest.WriteCSV
	resultsDir       = ingesttest.ResultsDir
	ticketsBySubject = ingesttest.TicketsBySubject
	copySample       = ingesttest.CopySample
)

// Flags the command refuses, and a job the library refuses with a
// *pipeline.ConfigError (package ingest tests each kind), exit 2 before any
// write.
func TestImportUsageErrorsBeforeAnyWrite(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	in := filepath.Join(t.TempDir(), "t.csv")
	writeCSVTest(t, in, [][]string{{"subject", "content", "colour"}, {"a", "b", "red"}})
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"unknown columns", "colour", []string{"--create", "-i", in}},
		{"no input", "-i FILE", []string{"--create"}},
		{"no operation", "--create", []string{"-i", in}},
		{"two operations", "one of", []string{"--create", "--reply", "-i", in}},
		{"marker on update", "--create only", []string{"--update", "-i", in, "--marker-field", "TextField_1"}},
	} {
		code, _, stderr := runCLI(t, simEnv(sim), append([]string{"import", "--quiet"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, want 2 naming %q: %s", tc.name, code, tc.want, stderr)
		}
	}
	for ep, n := range sim.Requests() {
		if ep != udesktest.EndpointFields {
			t.Errorf("%d requests to %s before a usage error", n, ep)
		}
	}
}

// The command is the face of package ingest (where the import's behaviour is
// tested): its report becomes the summary on stderr and in --report, the
// plan goes to stdout, and the outcome becomes the exit code.
func TestImportFaceExitCodes(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	dir := t.TempDir()
	in := copySample(t, "create-bad-rows.csv", dir)
	env := simEnv(sim)
	env["UDESK_RATE"] = "60/min"
	code, stdout, stderr := runCLI(t, env, "import", "--create", "-i", in, "--dry-run", "--results", filepath.Join(dir, "plan"), "--quiet")
	if code != exitRejected || !strings.Contains(stdout, "9 rows read, 4 would be sent, 5 rejected") || !strings.Contains(stdout, "at the budget of 60/min") {
		t.Fatalf("dry run: exit %d, want 3 and the plan on stdout:\n%s%s", code, stdout, stderr)
	}
	report := filepath.Join(dir, "report.json")
	code, _, stderr = runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--quiet", "--report", report)
	if code != exitRejected || !strings.Contains(stderr, "import --create: 9 read, 4 written, 5 failed") || strings.Contains(stderr, "state: ") || !strings.Contains(stderr, "results in ") {
		t.Fatalf("import: exit %d, want 3 and the summary only (--quiet):\n%s", code, stderr)
	}
	var sum map[string]any
	if b, err := os.ReadFile(report); err != nil || json.Unmarshal(b, &sum) != nil || sum["rows_failed"] != 5.0 || sum["command"] != "import --create" {
		t.Fatalf("--report: %v %v", sum, err)
	}
	code, _, stderr = runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--quiet")
	// Exit 3 again, as the run that finished it: "retry until 0" stops.
	if code != exitRejected || !strings.Contains(stderr, "already imported") || !strings.Contains(stderr, "5 rows rejected") || strings.Contains(stderr, "import --create: 9 read") {
		t.Fatalf("re-run: exit %d, want 3 without a summary:\n%s", code, stderr)
	}
	os.WriteFile(in, append(must(os.ReadFile(in)), "\n多一行,内容,x@example.com\n"...), 0o644)
	if code, _, stderr = runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--quiet"); code != exitUsage || !strings.Contains(stderr, "changed since the import") {
		t.Fatalf("changed input: exit %d, want 2:\n%s", code, stderr)
	}
	// convert with a saved catalog needs no URL or secret.
	fields := filepath.Join(dir, "fields.json")
	if code, _, stderr = runCLI(t, simEnv(sim), "fields", "-o", fields); code != exitOK {
		t.Fatalf("fields: exit %d: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, nil, "convert", "-i", copySample(t, "create-bad-rows.csv", t.TempDir()), "-o", filepath.Join(dir, "mapped.csv"), "--fields", fields, "--quiet")
	if code != exitRejected || !strings.Contains(stderr, "convert --create: 9 read, 4 written, 5 failed") {
		t.Fatalf("convert: exit %d, want 3:\n%s", code, stderr)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
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
