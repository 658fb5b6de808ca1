package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// noStateIn fails when dir holds a .udesk-etl state folder or anything
// besides the files named in keep.
func noStateIn(t *testing.T, what, dir string, keep ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.Contains(strings.Join(keep, "\n")+"\n", e.Name()+"\n") {
			t.Errorf("%s left %s in %s", what, e.Name(), dir)
		}
	}
}

// A wrong secret is a configuration error (exit 2) that explains itself, and
// the runs it stops leave no state folder behind.
func TestWrongSecretIsExit2AndLeavesNoState(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 3, Seed: 1, Secret: "right-secret"})
	env := simEnv(sim)
	env["UDESK_SECRET"] = "wrong-secret-canary"
	dir := t.TempDir()
	in := filepath.Join(dir, "new.csv")
	writeCSVTest(t, in, [][]string{{"subject", "content", "email"}, {"a", "b", "a@example.com"}})
	for _, args := range [][]string{
		{"fields"},
		{"export", "-o", filepath.Join(dir, "t.csv")},
		{"import", "--create", "-i", in},
		{"import", "--create", "-i", in, "--dry-run"},
	} {
		code, stdout, stderr := runCLI(t, env, append(args, "--quiet")...)
		if code != exitUsage || !strings.Contains(stderr, "check UDESK_SECRET") {
			t.Errorf("%v: exit %d, want 2 saying to check UDESK_SECRET:\n%s", args, code, stderr)
		}
		if strings.Contains(stdout+stderr, "wrong-secret-canary") || strings.Contains(stderr, "resume") {
			t.Errorf("%v: the secret leaked, or a resume is offered:\n%s", args, stderr)
		}
		noStateIn(t, strings.Join(args[:1], " "), dir, "new.csv")
	}
}

// Runs that fail before doing anything, a -o - export and a clean dry run
// leave nothing to resume and nothing behind.
func TestRunsThatKeepNothingLeaveNothing(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 3, Seed: 1})
	env := simEnv(sim)
	dir := t.TempDir()
	t.Chdir(dir)
	in := filepath.Join(dir, "new.csv")
	writeCSVTest(t, in, [][]string{{"subject", "content", "email"}, {"a", "b", "a@example.com"}})
	bad := filepath.Join(dir, "bad.csv")
	writeCSVTest(t, bad, [][]string{{"subject", "colour"}, {"a", "red"}})

	code, stdout, stderr := runCLI(t, env, "export", "-o", "-", "--quiet")
	if code != exitOK || strings.Count(stdout, "\n") != 3 {
		t.Fatalf("export -o -: exit %d, %d lines\n%s", code, strings.Count(stdout, "\n"), stderr)
	}
	noStateIn(t, "export -o -", dir, "new.csv", "bad.csv")

	code, _, stderr = runCLI(t, env, "export", "--filter", "999999", "-o", filepath.Join(dir, "f.csv"), "--quiet")
	if code == exitOK || strings.Contains(stderr, "resume") {
		t.Errorf("an unknown filter: exit %d, %s", code, stderr)
	}
	noStateIn(t, "export --filter 999999", dir, "new.csv", "bad.csv")

	code, _, stderr = runCLI(t, env, "import", "--create", "-i", bad, "--quiet")
	if code != exitUsage || !strings.Contains(stderr, "colour") {
		t.Errorf("an unknown column: exit %d, %s", code, stderr)
	}
	noStateIn(t, "import of an unknown column", dir, "new.csv", "bad.csv")

	code, stdout, stderr = runCLI(t, env, "import", "--create", "-i", in, "--dry-run", "--quiet")
	if code != exitOK || !strings.Contains(stdout, "1 would be sent") {
		t.Errorf("dry run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	noStateIn(t, "a dry run without errors", dir, "new.csv", "bad.csv")
	if n := len(sim.Log()); sim.Requests()[udesktest.EndpointCreate] != 0 {
		t.Errorf("%d requests, a create among them", n)
	}
}

// -o - is stdout for fields as for export: no file named "-".
func TestFieldsToStdout(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 1, Seed: 1})
	dir := t.TempDir()
	t.Chdir(dir)
	code, stdout, stderr := runCLI(t, simEnv(sim), "fields", "-o", "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var catalog struct {
		Fields []map[string]any `json:"ticket_fields"`
	}
	if err := json.Unmarshal([]byte(stdout), &catalog); err != nil || len(catalog.Fields) == 0 {
		t.Errorf("stdout is not the catalog as JSON (%v): %.200s", err, stdout)
	}
	noStateIn(t, "fields -o -", dir)
}

// An edited export that lost its original rows (re-saved by another program,
// renamed) would update every filled cell: refused, exit 2, naming both ways
// on; --no-originals says "send every filled cell" and is obeyed.
func TestExportWithoutOriginalsIsRefused(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 4, Seed: 2})
	env := simEnv(sim)
	dir := t.TempDir()
	out := filepath.Join(dir, "tickets.csv")
	if code, _, stderr := runCLI(t, env, "export", "-o", out, "--quiet"); code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	renamed := filepath.Join(dir, "edited.csv")
	if err := os.Rename(out, renamed); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, env, "import", "--update", "-i", renamed, "--dry-run", "--quiet")
	if code != exitUsage || !strings.Contains(stderr, "--originals PATH") || !strings.Contains(stderr, "--no-originals") {
		t.Errorf("a renamed export: exit %d, want 2 asking for --originals PATH or --no-originals:\n%s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, env, "import", "--update", "-i", renamed, "--dry-run", "--no-originals", "--quiet")
	if code != exitOK || !strings.Contains(stdout, "4 would be sent") {
		t.Errorf("--no-originals: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := sim.Requests()[udesktest.EndpointUpdate]; n != 0 {
		t.Errorf("%d updates sent by dry runs", n)
	}
}

// export --dry-run says how many tickets and requests from one request and
// writes nothing; an inactive filter is exported with a warning.
func TestExportDryRunAndInactiveFilter(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 250, Seed: 4})
	env := simEnv(sim)
	env["UDESK_RATE"] = "60/min"
	dir := t.TempDir()
	code, stdout, stderr := runCLI(t, env, "export", "--dry-run", "-o", filepath.Join(dir, "t.csv"))
	// 3 pages of 100, the end check and the field catalog.
	if code != exitOK || !strings.Contains(stdout, "250 tickets") || !strings.Contains(stdout, "5 requests") || !strings.Contains(stdout, "at the budget of 60/min") {
		t.Errorf("dry run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := len(sim.Log()); n != 1 {
		t.Errorf("the dry run made %d requests, want 1", n)
	}
	noStateIn(t, "export --dry-run", dir)

	_, _, stderr = runCLI(t, simEnv(sim), "export", "--filter", "5", "-o", filepath.Join(dir, "f.csv"), "--quiet")
	if !strings.Contains(stderr, "warning: filter 5") || !strings.Contains(stderr, "inactive") {
		t.Errorf("no warning for an inactive filter:\n%s", stderr)
	}
	_, _, stderr = runCLI(t, simEnv(sim), "export", "--filter", "1", "-o", filepath.Join(dir, "g.csv"), "--quiet")
	if strings.Contains(stderr, "inactive") {
		t.Errorf("a warning for an active filter:\n%s", stderr)
	}
}
