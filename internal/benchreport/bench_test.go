package benchreport

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchReport runs the whole bench at tiny sizes with the real binary and
// checks that the report holds every section, with figures that were measured:
// request counts agree between the tool and the simulator, and every child run
// has a wall time, CPU time and peak RSS.
func TestBenchReport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary about twenty times")
	}
	var stderr bytes.Buffer
	a := &app{stdout: &bytes.Buffer{}, stderr: &stderr}
	o := &benchOptions{exe: build(t, "../../cmd/udesk-etl", "udesk-etl"), self: build(t, "../../cmd/udesk-etl-bench", "udesk-etl-bench"), sizes: []int{300, 700}, workDir: t.TempDir(),
		budgetTickets: 250, budgetRows: 6, budgetRate: 20, budgetLatency: 50 * time.Millisecond}
	rep, err := runBench(context.Background(), a, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}

	if len(rep.Budget) != 2 {
		t.Fatalf("%d budget results, want export and import", len(rep.Budget))
	}
	for _, r := range rep.Budget {
		if r.Requests < 2 || r.SpanSeconds <= 0 || r.AchievedPerS <= 0 || int64(r.Requests) != r.ToolRequests {
			t.Errorf("budget %s: %+v", r.Name, r)
		}
		// Paced at 20/s, the requests cannot have come faster than the budget.
		if r.AchievedPerS > 20*1.1 || r.Throttled429 != 0 {
			t.Errorf("budget %s: %.1f requests/s and %d 429s at a 20/s budget", r.Name, r.AchievedPerS, r.Throttled429)
		}
	}
	want := map[string]int{"export": 250/100 + 1 + 2, "import --create": 6 + 1, "export (local)": 300/100 + 2}
	if len(rep.Requests) != len(want) {
		t.Fatalf("request results %+v, want %v", rep.Requests, want)
	}
	for _, r := range rep.Requests {
		if r.Target != want[r.Work] || r.SimRequests != r.Target || r.ToolRequests != int64(r.SimRequests) || !r.Pass {
			t.Errorf("requests for %s: %+v, want %d counted alike by tool and simulator", r.Work, r, want[r.Work])
		}
	}
	names := map[string]int{}
	for _, s := range rep.Speed {
		names[s.Name]++
		if s.Run.Wall <= 0 || s.Run.CPU <= 0 || s.Run.MaxRSSMiB < 1 || s.PerSecond <= 0 {
			t.Errorf("speed %s: unmeasured figures %+v", s.Name, s.Run)
		}
		if s.Run.Report.Read != int64(s.N) {
			t.Errorf("speed %s: the run read %d, want %d", s.Name, s.Run.Report.Read, s.N)
		}
	}
	for _, n := range []string{"export parquet", "export xlsx", "export csv", "export jsonl", "import --dry-run csv", "import --dry-run xlsx"} {
		if names[n] == 0 {
			t.Errorf("no %q run in %v", n, names)
		}
	}
	if names["export parquet"] != 2 || names["export xlsx"] != 2 || len(rep.Memory) != 2 {
		t.Errorf("memory: want Parquet and XLSX at both sizes, got %v and %+v", names, rep.Memory)
	}
	for _, m := range rep.Memory {
		if m.SmallMiB <= 0 || m.LargeMiB <= 0 || m.LargeN != 700 || m.Growth != m.LargeMiB/m.SmallMiB {
			t.Errorf("memory %s: %+v", m.Format, m)
		}
	}

	md := rep.markdown()
	for _, s := range []string{"## 1. Budget utilisation", "## 2. Requests per unit of work", "## 3. Local speed",
		"## 4. Memory", "| export xlsx | 700 tickets |", "| import --create | 6 | 7 | 7 | 7 = N + 1 (the catalog) | pass |"} {
		if !strings.Contains(md, s) {
			t.Errorf("the Markdown report lacks %q:\n%s", s, md)
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back benchReport
	if err := json.Unmarshal(b, &back); err != nil || len(back.Speed) != len(rep.Speed) {
		t.Fatalf("JSON report does not read back: %v", err)
	}
}

func TestGoBenchMetric(t *testing.T) {
	lines := []string{
		"BenchmarkDecodePage/fast-2 699 1899284 ns/op 51.17 MB/s 235272 B/op 729 allocs/op",
		"BenchmarkDecodePageEncodingJSON-2 279 5572808 ns/op 17.44 MB/s 316537 B/op 5401 allocs/op",
		"BenchmarkDecodePage/fast-2 300 2500000 ns/op 51.17 MB/s 235272 B/op 729 allocs/op",
	}
	if v, ok := goBenchMetric(lines, "BenchmarkDecodePage/fast", "allocs/op"); !ok || v != 729 {
		t.Errorf("fast allocs = %v, %v; want 729", v, ok)
	}
	if v, ok := goBenchMetric(lines, "BenchmarkDecodePageEncodingJSON", "ns/op"); !ok || v != 5572808 {
		t.Errorf("encoding/json ns/op = %v, %v", v, ok)
	}
	if _, ok := goBenchMetric(lines, "BenchmarkDecodePage", "ns/op"); ok {
		t.Error("a prefix of a benchmark's name matched it")
	}
	notes := strings.Join(benchNotes(&benchReport{GoBench: lines}), "\n")
	if !strings.Contains(notes, "1.90 ms against 5.57 ms for encoding/json alone (2.9x faster, 729 against 5401 allocations)") {
		t.Errorf("notes do not give the measured decoder figures:\n%s", notes)
	}
}

// build builds the command in dir as name in a temporary folder.
func build(t *testing.T, dir, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}
