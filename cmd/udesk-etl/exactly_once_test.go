package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// Two imports of the same file at once: the second exits 1 at once naming
// the first's state folder, the first creates every ticket once, and a third
// run finds the import finished.
func TestImportSecondRunAtOnceExits1(t *testing.T) {
	sim := newSim(t, udesktest.Options{Latency: 100 * time.Millisecond})
	in := filepath.Join(t.TempDir(), "t.csv")
	recs := relCreateRows("once", 40, []string{"a@example.com"})
	writeCSVTest(t, in, recs)
	type run struct {
		code   int
		stderr string
	}
	first := make(chan run, 1)
	go func() {
		code, _, stderr := runCLI(t, simEnv(sim), "import", "--create", "-i", in)
		first <- run{code, stderr}
	}()
	for sim.Requests()[udesktest.EndpointCreate] == 0 {
		time.Sleep(10 * time.Millisecond) // until the first run is sending
	}
	code, _, stderr := runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--quiet")
	freshCode, _, freshStderr := runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--quiet", "--fresh")
	r := <-first
	if r.code != exitOK {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	state := regexp.MustCompile(`state: (\S+)`).FindStringSubmatch(r.stderr)
	if state == nil {
		t.Fatalf("the first run did not name its state folder:\n%s", r.stderr)
	}
	for _, second := range []run{{code, stderr}, {freshCode, freshStderr}} {
		if second.code != exitFailed || !strings.Contains(second.stderr, state[1]) || !strings.Contains(second.stderr, "another run") {
			t.Errorf("second run: exit %d, want 1 naming %s:\n%s", second.code, state[1], second.stderr)
		}
	}
	if n := len(sim.Tickets()); n != 40 {
		t.Errorf("%d tickets for 40 rows", n)
	}
	code, _, stderr = runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--quiet")
	if code != exitOK || !strings.Contains(stderr, "already imported") {
		t.Fatalf("third run: exit %d, want 0 and already imported:\n%s", code, stderr)
	}
}

// A server that asks to wait longer than the retry limit ends the run with
// exit 1 and a message naming the wait, for an export and an import.
func TestRetryAfterTooLongExits1(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 5})
	dir := t.TempDir()
	sim.FailNext("list", udesktest.Fault429Long, 1)
	code, _, stderr := runCLI(t, simEnv(sim), "export", "--quiet", "-o", filepath.Join(dir, "t.jsonl"))
	if code != exitFailed || !strings.Contains(stderr, "asked to wait") {
		t.Errorf("export: exit %d, want 1 naming the wait:\n%s", code, stderr)
	}
	in := filepath.Join(dir, "in.csv")
	writeCSVTest(t, in, relCreateRows("wait", 2, []string{"a@example.com"}))
	sim.FailNext("create", udesktest.Fault429Long, 1)
	code, _, stderr = runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--quiet")
	if code != exitFailed || !strings.Contains(stderr, "asked to wait") {
		t.Errorf("import: exit %d, want 1 naming the wait:\n%s", code, stderr)
	}
}

// An export of every ticket that cannot show it holds every ticket that
// lived through it (too many ids unaccounted for) exits 1 with the list.
func TestExportIncompleteExits1(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 1000, Seed: 2, Churn: udesktest.Churn{Every: 1, Delete: 30}})
	code, _, stderr := runCLI(t, simEnv(sim), "export", "--quiet", "-o", filepath.Join(t.TempDir(), "t.jsonl"))
	if code != exitFailed || !strings.Contains(stderr, "unaccounted for") || !strings.Contains(stderr, "looked up one by one") {
		t.Errorf("exit %d, want 1 with the ids and the summary:\n%s", code, stderr)
	}
}
