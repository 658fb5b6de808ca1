package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/internal/exporttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// TestExportCLI checks what the command adds to the job: the state folder
// named first on stderr, the summary with its notes (repeated --ids among
// them), --report, nothing on stdout, and exit 3 when some ids do not exist.
// The job itself is tested in jobs/export.
func TestExportCLI(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 50, Seed: 7})
	dir := t.TempDir()
	report := filepath.Join(dir, "report.json")
	code, stdout, stderr := runCLI(t, simEnv(sim), "export", "--report", report,
		"-o", filepath.Join(dir, "t.jsonl"), "--ids", "17,5,999999,3,5")
	if code != exitRejected {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitRejected, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	// Off a terminal, log lines start with the time.
	if _, line, _ := strings.Cut(stderr, " "); !strings.HasPrefix(line, "export: state folder "+filepath.Join(dir, ".udesk-etl", "t.export-")) {
		t.Errorf("stderr does not start by naming the state folder:\n%s", stderr)
	}
	for _, want := range []string{"note: ticket 999999 not found", "note: 1 repeated ids in --ids were exported once",
		"export: 3 read, 3 written, 1 failed, 0 skipped; 5 requests", "1 of the 4 ids were not found"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	var rep summary
	b, err := os.ReadFile(report)
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("report: %v", err)
	}
	if rep.Command != "export" || rep.Written != 3 || rep.Failed != 1 || rep.Requests != 5 {
		t.Errorf("report %+v, want 3 written, 1 failed, 5 requests (catalog + 4 ids)", rep)
	}
}

func TestExportStdoutAndOptions(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 120, Seed: 3})
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "names.csv")
	// The state folder goes beside the first output file, not in the
	// working folder.
	code, stdout, stderr := runCLI(t, simEnv(sim), "export", "--quiet", "-o", "-", "-o", csvPath,
		"--headers", "names", "--select-values", "indexes", "--bom=false")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	opts := mapping.ExportOptions{Headers: mapping.HeadersNames, SelectValues: mapping.SelectIndexes}
	schema, want := exporttest.Expected(t, sim, opts, exporttest.Listed(sim.Tickets()))
	exporttest.Same(t, "stdout", exporttest.ReadJSONL(t, []byte(stdout), schema), want, false)
	raw, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if snaps, _ := filepath.Glob(filepath.Join(dir, ".udesk-etl", "names.export-*", "snap-*")); len(snaps) != 1 {
		t.Errorf("state folders beside %s: %v, want one", csvPath, snaps)
	}
	if strings.HasPrefix(string(raw), "\uFEFF") {
		t.Error("--bom=false: the CSV starts with a BOM")
	}
	got := exporttest.ReadCSV(t, csvPath, schema)
	exporttest.Same(t, "csv", got, want, true)
	if !slices.Contains(got.Header, "SelectField_1") {
		t.Errorf("--headers names: header %q lacks SelectField_1", got.Header)
	}
}

func TestExportUsageErrors(t *testing.T) {
	env := map[string]string{"UDESK_URL": "http://127.0.0.1:1", "UDESK_SECRET": "s"}
	dir := t.TempDir()
	idFile := filepath.Join(dir, "ids.txt")
	os.WriteFile(idFile, []byte("id\n1\n2\nabc\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "no output"},
		{[]string{"-o", "x.txt"}, "unknown format"},
		{[]string{"-o", filepath.Join(dir, "nope", "x.csv")}, "does not exist"},
		{[]string{"-o", "a.csv", "-o", "a.csv"}, "twice"},
		{[]string{"-o", "a.csv", "--filter", "1", "--customer", "a@b.c"}, "one of them"},
		{[]string{"-o", "a.csv", "--agent", "2"}, "--agent needs --filter"},
		{[]string{"-o", "a.csv", "--headers", "x"}, "--headers"},
		{[]string{"-o", "a.csv", "--select-values", "x"}, "--select-values"},
		{[]string{"-o", "a.csv", "--ids", "1,x"}, `"x" is not a ticket id`},
		{[]string{"-o", "a.csv", "--ids", "@" + idFile}, "line 4"},
		{[]string{"-o", "a.csv", "--ids", "@" + filepath.Join(dir, "missing")}, "--ids @"},
	} {
		code, _, stderr := runCLI(t, env, append([]string{"export"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("export %q: exit %d, stderr %q; want exit 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
	}
}

// discard is a stream that keeps nothing, for runs whose output is not checked.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
