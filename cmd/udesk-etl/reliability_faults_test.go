package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// relFaults are the faults the simulator injects, each forced onto the
// next n requests of the endpoint under test (and the first field catalog
// read), with the --timeout of the run.
var relFaults = []struct {
	name    string
	kind    string
	n       int
	timeout string
}{
	{"429 storm with Retry-After", udesktest.Fault429, 3, "30s"},
	{"429 storm without Retry-After", udesktest.Fault429Bare, 3, "30s"},
	{"500", udesktest.Fault500, 2, "30s"},
	{"502", udesktest.Fault502, 2, "30s"},
	{"503", udesktest.Fault503, 2, "30s"},
	{"HTML page with 200", udesktest.FaultHTML, 2, "30s"},
	{"HTML page with 502", udesktest.FaultHTML502, 2, "30s"},
	{"reset before processing", udesktest.FaultResetBefore, 2, "30s"},
	{"reset after processing", udesktest.FaultResetAfter, 2, "30s"},
	{"body cut mid-JSON", udesktest.FaultCut, 2, "30s"},
	{"stall hits the timeout", udesktest.FaultStall, 1, "1s"},
	{"slow body hits the timeout", udesktest.FaultSlow, 1, "1s"},
}

const relFaultSeed = 41

// relFaultTickets is the export's data set: four pages at CI size;
// relFaultRows the rows of an import.
var relFaultTickets, relFaultRows = relSize(350, 20000), relSize(12, 2000)

// relReport reads a --report file.
func relReport(t *testing.T, path string) summary {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// relInjected counts the requests of endpoint that got fault kind.
func relInjected(sim *udesktest.Server, endpoint, kind string) int {
	n := 0
	for _, r := range sim.Log() {
		if r.Endpoint == endpoint && r.Fault == kind {
			n++
		}
	}
	return n
}

// relExport runs an export of sim into dir/t.csv and dir/t.jsonl in-process
// and returns its exit code and stderr.
func relExport(t *testing.T, sim *udesktest.Server, dir string, extra ...string) (int, string) {
	t.Helper()
	args := append([]string{"export", "--quiet", "-o", filepath.Join(dir, "t.csv"), "-o", filepath.Join(dir, "t.jsonl"),
		"--report", filepath.Join(dir, "report.json")}, extra...)
	code, _, stderr := runCLI(t, simEnv(sim), args...)
	return code, stderr
}

// relSameExport fails unless dir holds exactly the reference outputs.
func relSameExport(t *testing.T, dir, refDir string) {
	t.Helper()
	for _, name := range []string{"t.csv", "t.jsonl"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(filepath.Join(refDir, name))
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from a clean run's (%d bytes, want %d)", name, len(got), len(want))
		}
	}
}

// relCleanExport exports a fault-free simulator with the matrix's data set.
func relCleanExport(t *testing.T) string {
	t.Helper()
	ref := t.TempDir()
	sim := newSim(t, udesktest.Options{Tickets: relFaultTickets, Seed: relFaultSeed})
	if code, stderr := relExport(t, sim, ref); code != exitOK {
		t.Fatalf("clean export: exit %d\n%s", code, stderr)
	}
	return ref
}

// TestFaultMatrixExport: under every fault, an export finishes with exactly
// the clean run's files, having retried.
func TestFaultMatrixExport(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault matrix runs every fault in turn")
	}
	ref := relCleanExport(t)
	for _, f := range relFaults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			sim := newSim(t, udesktest.Options{Tickets: relFaultTickets, Seed: relFaultSeed})
			sim.FailNext("fields", f.kind, 1)
			sim.FailNext("list", f.kind, f.n)
			dir := t.TempDir()
			code, stderr := relExport(t, sim, dir, "--timeout", f.timeout)
			if code != exitOK {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			relSameExport(t, dir, ref)
			if got := relInjected(sim, udesktest.EndpointList, f.kind) + relInjected(sim, udesktest.EndpointFields, f.kind); got != f.n+1 {
				t.Errorf("%d faults injected, want %d", got, f.n+1)
			}
			// Not one retry per fault: net/http itself resends a GET whose
			// reused connection was reset before any reply.
			if rep := relReport(t, filepath.Join(dir, "report.json")); rep.Retried == 0 {
				t.Errorf("the report counts no retry for %d faults", f.n+1)
			}
			relNoTemps(t, dir)
		})
	}
}

// TestFaultMatrixImport: under every fault, a create import writes every row
// exactly once (a create that may have been processed is looked up, not
// resent blindly) and its results say so.
func TestFaultMatrixImport(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault matrix runs every fault in turn")
	}
	for _, f := range relFaults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			sim := newSim(t, udesktest.Options{})
			sim.FailNext("fields", f.kind, 1)
			sim.FailNext("create", f.kind, f.n)
			dir := t.TempDir()
			in := filepath.Join(dir, "in.csv")
			recs := relCreateRows("fault", relFaultRows, []string{"f1@example.com", "f2@example.com", "f3@example.com"})
			writeCSVTest(t, in, recs)
			results := filepath.Join(dir, "results")
			code, _, stderr := runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--results", results, "--quiet",
				"--timeout", f.timeout, "--report", filepath.Join(dir, "report.json"))
			if code != exitOK {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			relCheckCreated(t, sim, recs, results)
			if got := relInjected(sim, udesktest.EndpointCreate, f.kind); got != f.n {
				t.Errorf("%d faults injected into creates, want %d", got, f.n)
			}
			rep := relReport(t, filepath.Join(dir, "report.json"))
			switch f.kind {
			case udesktest.FaultResetAfter, udesktest.FaultCut, udesktest.FaultSlow:
				// Processed by the server, reply lost: found, not resent.
				if rep.Facts["found_after_unknown_outcome"] != int64(f.n) {
					t.Errorf("report: %d creates found after an unknown outcome, want %d", rep.Facts["found_after_unknown_outcome"], f.n)
				}
			}
			if rep.Written != int64(relFaultRows) || rep.Failed != 0 {
				t.Errorf("report: %d written, %d failed", rep.Written, rep.Failed)
			}
			relNoTemps(t, dir)
		})
	}
}

// TestFaultMatrixCommentedUpdate: an update with a comment is not
// idempotent and cannot be looked up: when the server processed it but the
// reply was lost, the row is reported as outcome unknown (exit 3, a clear
// errors.csv entry), and the comment is never added twice.
func TestFaultMatrixCommentedUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault matrix runs every fault in turn")
	}
	for _, kind := range []string{udesktest.FaultResetAfter, udesktest.FaultCut} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			sim := newSim(t, udesktest.Options{Tickets: 6, Seed: relFaultSeed})
			sim.FailNext("update", kind, 2)
			dir := t.TempDir()
			in := filepath.Join(dir, "upd.csv")
			recs := [][]string{{"id", "subject", "comment_function", "comment_author_email", "comment_body"}}
			for i := 1; i <= 6; i++ {
				recs = append(recs, []string{strconv.Itoa(i), fmt.Sprintf("upd-%d", i), "internal", "agent@sample.com", fmt.Sprintf("note-%d", i)})
			}
			writeCSVTest(t, in, recs)
			results := filepath.Join(dir, "results")
			code, _, stderr := runCLI(t, simEnv(sim), "import", "--update", "-i", in, "--results", results, "--quiet", "--concurrency", "1")
			if code != exitRejected {
				t.Fatalf("exit %d, want 3\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "outcome") || !strings.Contains(stderr, "--resend-unknown") {
				t.Errorf("the summary does not explain the unknown outcomes:\n%s", stderr)
			}
			errs := readCSV(t, filepath.Join(results, "errors.csv"))
			if len(errs)-1 != 2 {
				t.Fatalf("errors.csv has %d rows, want the 2 faulted ones: %v", len(errs)-1, errs)
			}
			for _, e := range errs[1:] {
				if e[5] != "outcome_unknown" || !strings.Contains(e[6], "ticket "+e[0]) {
					t.Errorf("errors.csv row %v: want outcome_unknown naming the ticket", e)
				}
			}
			for i := 1; i <= 6; i++ {
				n := 0
				for _, r := range sim.Replies(int64(i)) {
					if r.Body == fmt.Sprintf("note-%d", i) {
						n++
					}
				}
				if n != 1 {
					// reset-after and cut are processed: the comment is there once.
					t.Errorf("ticket %d has its comment %d times, want 1", i, n)
				}
			}
			if ok := readCSV(t, filepath.Join(results, "success.csv")); len(ok)-1 != 4 {
				t.Errorf("success.csv has %d rows, want 4", len(ok)-1)
			}
		})
	}
}

// relWhen calls fn once cond holds, polling; it stops with the test.
func relWhen(t *testing.T, cond func() bool, fn func()) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if cond() {
					fn()
					return
				}
			}
		}
	}()
}

// relPages returns the list pages requested in log records, with whether
// each was answered.
func relPages(log []udesktest.RequestRecord) map[int]bool {
	pages := map[int]bool{}
	for _, r := range log {
		if r.Endpoint != udesktest.EndpointList {
			continue
		}
		q, _ := url.ParseQuery(r.Query)
		p, _ := strconv.Atoi(q.Get("page"))
		pages[p] = pages[p] || (r.Status == 200 && r.Fault == "")
	}
	return pages
}

// TestFaultOutageExportResumes: an outage longer than the retries stops the
// export with exit 1 and a message naming the state folder to resume from;
// the re-run fetches only what is missing and writes the clean run's files.
func TestFaultOutageExportResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out an outage")
	}
	ref := relCleanExport(t)
	sim := newSim(t, udesktest.Options{Tickets: relFaultTickets, Seed: relFaultSeed, Latency: 5 * time.Millisecond})
	outage, _ := udesktest.ParseFaults("503@list=1")
	relWhen(t, func() bool { return sim.Requests()[udesktest.EndpointList] >= 3 }, func() { sim.SetFaults(outage) })
	dir := t.TempDir()
	code, stderr := relExport(t, sim, dir, "--concurrency", "1")
	if code != exitFailed {
		t.Fatalf("exit %d during an outage, want 1\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "503") || !strings.Contains(stderr, "run the same command again to resume from "+filepath.Join(dir, ".udesk-etl")) {
		t.Errorf("the error does not say what failed and where the re-run resumes from:\n%s", stderr)
	}
	for _, name := range []string{"t.csv", "t.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s exists after a failed export", name)
		}
	}
	held := relPages(sim.Log())
	sim.SetFaults(udesktest.Faults{})
	logFrom := len(sim.Log())
	if code, stderr := relExport(t, sim, dir, "--concurrency", "1"); code != exitOK {
		t.Fatalf("re-run: exit %d\n%s", code, stderr)
	}
	relSameExport(t, dir, ref)
	for page, ok := range relPages(sim.Log()[logFrom:]) {
		if page > 1 && held[page] && ok {
			t.Errorf("page %d was fetched before the outage and again by the re-run", page)
		}
	}
	relNoTemps(t, dir)
}

// TestFaultOutageImportResumes: creates that keep failing stop the import
// with exit 1 and a message saying a re-run resumes; the re-run writes every
// row exactly once and its results cover the whole import.
func TestFaultOutageImportResumes(t *testing.T) {
	sim := newSim(t, udesktest.Options{Latency: 2 * time.Millisecond})
	outage, _ := udesktest.ParseFaults("503@create=1")
	relWhen(t, func() bool { return sim.Requests()[udesktest.EndpointCreate] >= 8 }, func() { sim.SetFaults(outage) })
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	recs := relCreateRows("outage", 30, []string{"o1@example.com", "o2@example.com"})
	writeCSVTest(t, in, recs)
	results := filepath.Join(dir, "results")
	args := []string{"import", "--create", "-i", in, "--results", results, "--quiet", "--concurrency", "2"}
	code, _, stderr := runCLI(t, simEnv(sim), args...)
	if code != exitFailed {
		t.Fatalf("exit %d during an outage, want 1\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "run the same command again") {
		t.Errorf("the error does not say that a re-run resumes:\n%s", stderr)
	}
	sim.SetFaults(udesktest.Faults{})
	code, _, stderr = runCLI(t, simEnv(sim), args...)
	if code != exitOK {
		t.Fatalf("re-run: exit %d\n%s", code, stderr)
	}
	relCheckCreated(t, sim, recs, results)
}

// TestFaultChurnExport: tickets created and deleted before every page the
// export reads. No export can be exact under such churn; it must write no
// ticket twice, and every ticket that lived through the run but is missing
// must be counted in the report with a note saying tickets may be missing.
func TestFaultChurnExport(t *testing.T) {
	if testing.Short() {
		t.Skip("churn under faults")
	}
	sim := newSim(t, udesktest.Options{Tickets: relFaultTickets, Seed: relFaultSeed, Churn: udesktest.Churn{Every: 1, Create: 2, Delete: 2}})
	before := map[int64]bool{}
	for _, tk := range sim.Tickets() {
		before[tk.ID] = true
	}
	dir := t.TempDir()
	code, stderr := relExport(t, sim, dir)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	got := map[int64]int{}
	data, _ := os.ReadFile(filepath.Join(dir, "t.jsonl"))
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var row struct{ ID int64 }
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatal(err)
		}
		got[row.ID]++
	}
	for id, n := range got {
		if n > 1 {
			t.Errorf("ticket %d exported %d times", id, n)
		}
	}
	missing := 0
	for _, tk := range sim.Tickets() {
		if before[tk.ID] && got[tk.ID] == 0 {
			missing++
		}
	}
	rep := relReport(t, filepath.Join(dir, "report.json"))
	if int64(missing) > rep.Facts["possibly_missing"] {
		t.Errorf("%d tickets that lived through the export are missing; the report says up to %d", missing, rep.Facts["possibly_missing"])
	}
	if missing > 0 && !strings.Contains(strings.Join(rep.Notes, "\n"), "may be missing") {
		t.Errorf("%d tickets missing and no note says so: %q", missing, rep.Notes)
	}
	t.Logf("%d exported, %d survivors missing; notes: %q", len(got), missing, rep.Notes)
}

// TestFaultChurnImport: while creates lose their replies, other tickets of
// the same customers keep appearing, so the look-ups page through a moving
// listing: every row is still written exactly once.
func TestFaultChurnImport(t *testing.T) {
	if testing.Short() {
		t.Skip("churn under faults")
	}
	sim := newSim(t, udesktest.Options{Tickets: 200, Seed: relFaultSeed, Churn: udesktest.Churn{Every: 1, Create: 5}})
	emails := relEmails(sim, 2)
	sim.FailNext("create", udesktest.FaultResetAfter, 4)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	recs := relCreateRows("churn", 12, emails)
	writeCSVTest(t, in, recs)
	results := filepath.Join(dir, "results")
	code, _, stderr := runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--results", results, "--quiet")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	relCheckCreated(t, sim, recs, results)
	if sim.Requests()[udesktest.EndpointCustomerTickets] == 0 {
		t.Fatal("no look-up ran: the test proves nothing")
	}
}
