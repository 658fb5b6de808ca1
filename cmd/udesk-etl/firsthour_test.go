package main

import (
	"crypto/md5"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// A filter of the open tickets is refused by --changed-filter (exit 1,
// naming the ticket that proves it, nothing committed); the simulator's
// filter of recently updated tickets is accepted.
func TestChangedFilterMustBeAViewOfRecentUpdates(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 300, Seed: 5})
	env := simEnv(sim)
	ds := filepath.Join(t.TempDir(), "ds")
	if code, _, stderr := runCLI(t, env, "sync", "--dataset", ds, "--quiet"); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s", code, stderr)
	}
	for _, tk := range sim.Tickets() {
		if tk.Status == "open" {
			sim.UpdateTicket(tk.ID, func(t *udesktest.Ticket) { t.Status = "closed" })
			break
		}
	}
	code, _, stderr := runCLI(t, env, "sync", "--dataset", ds, "--changed-filter", "1", "--quiet")
	m := regexp.MustCompile(`changed filter 1 does not list the tickets updated since .*: ticket (\d+), updated .*, is not in it and still exists`).FindStringSubmatch(stderr)
	if code != exitFailed || m == nil || !strings.Contains(stderr, "nothing was committed") || strings.Contains(stderr, "resume") {
		t.Fatalf("--changed-filter 1 (the open tickets): exit %d, want 1 naming the ticket:\n%s", code, stderr)
	}
	code, stdout, _ := runCLI(t, nil, "sync", "--dataset", ds, "--status")
	if code != exitOK || !strings.Contains(stdout, ": 1 runs") {
		t.Fatalf("after the refused run: exit %d\n%s", code, stdout)
	}
	code, _, stderr = runCLI(t, env, "sync", "--dataset", ds, "--changed-filter", "6", "--quiet")
	if code != exitOK || !strings.Contains(stderr, "(changed-filter)") {
		t.Fatalf("--changed-filter 6 (recently updated): exit %d\n%s", code, stderr)
	}
}

// Selecting what Udesk does not know is a configuration error (exit 2),
// with nothing to resume.
func TestUnknownFilterOrCustomerIsExit2(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 5, Seed: 1})
	env := simEnv(sim)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"export", "--filter", "999", "-o", filepath.Join(dir, "a.csv")},
		{"export", "--customer", "nobody@example.com", "-o", filepath.Join(dir, "b.csv")},
		{"export", "--filter", "2", "--agent", "999", "-o", filepath.Join(dir, "c.csv")},
		{"sync", "--dataset", filepath.Join(dir, "ds"), "--filter", "999"},
	} {
		code, _, stderr := runCLI(t, env, append(args, "--quiet")...)
		if code != exitUsage || strings.Contains(stderr, "resume") {
			t.Errorf("%v: exit %d, want 2 without a resume:\n%s", args, code, stderr)
		}
	}
}

// Wrong S3 credentials are configuration (exit 2), not a run to resume.
func TestSyncWithWrongS3CredentialsIsExit2(t *testing.T) {
	bucket, _ := datasettest.StartS3(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
	sim := newSim(t, udesktest.Options{Tickets: 5, Seed: 1})
	t.Chdir(t.TempDir())
	code, _, stderr := runCLI(t, simEnv(sim), "sync", "--dataset", bucket+"/tickets", "--quiet")
	t.Log(stderr)
	if code != exitUsage || strings.Contains(stderr, "resume") || strings.Contains(stderr, "not-the-secret") {
		t.Fatalf("wrong S3 secret: exit %d, want 2 without a resume:\n%s", code, stderr)
	}
}

// A sync with a wrong secret leaves no state folder and no empty dataset;
// --status on a folder that does not exist says so and creates nothing.
func TestSyncWithWrongSecretLeavesNothing(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 3, Seed: 1, Secret: "right-secret"})
	env := simEnv(sim)
	env["UDESK_SECRET"] = "wrong-secret"
	dir := t.TempDir()
	t.Chdir(dir)
	code, _, stderr := runCLI(t, env, "sync", "--dataset", "reports/tickets", "--quiet")
	if code != exitUsage || !strings.Contains(stderr, "check UDESK_SECRET") {
		t.Fatalf("sync with a wrong secret: exit %d\n%s", code, stderr)
	}
	noStateIn(t, "sync with a wrong secret", dir)

	code, stdout, stderr := runCLI(t, nil, "sync", "--dataset", "reprots/tickets", "--status")
	if code != exitUsage || stdout != "" || !strings.Contains(stderr, "no dataset at reprots/tickets") {
		t.Fatalf("--status on a mistyped path: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat("reprots"); !os.IsNotExist(err) {
		t.Fatalf("--status created the mistyped folder (%v)", err)
	}
}

// --quiet prints the summary and warnings only: no state folder, plan or
// results line.
func TestQuietPrintsOnlyTheSummary(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 150, Seed: 3})
	env := simEnv(sim)
	dir := t.TempDir()
	in := filepath.Join(dir, "new.csv")
	writeCSVTest(t, in, [][]string{{"subject", "content", "email"}, {"a", "b", "a@example.com"}})
	for _, args := range [][]string{
		{"export", "-o", filepath.Join(dir, "t.csv")},
		{"export", "--filter", "5", "-o", filepath.Join(dir, "closed.csv")}, // inactive: a warning
		{"import", "--create", "-i", in},
		{"sync", "--dataset", filepath.Join(dir, "ds")},
		{"sync", "--dataset", filepath.Join(dir, "ds")},
	} {
		code, _, stderr := runCLI(t, env, append(args, "--quiet")...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		for _, noise := range []string{"state folder", "state: ", "results: ", "sync plan", "starting over"} {
			if strings.Contains(stderr, noise) {
				t.Errorf("%v --quiet prints %q:\n%s", args, noise, stderr)
			}
		}
		if !regexp.MustCompile(`(?m)^(export|import --create|sync): \d+ read, \d+ written`).MatchString(stderr) {
			t.Errorf("%v --quiet: no summary:\n%s", args, stderr)
		}
		if args[1] == "--filter" && !strings.Contains(stderr, "warning: filter 5") {
			t.Errorf("%v --quiet hides the warning:\n%s", args, stderr)
		}
	}
	code, _, stderr := runCLI(t, env, "import", "--create", "-i", in, "--quiet")
	if code != exitOK || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "was already imported (1 row written)") {
		t.Errorf("an import run again, --quiet: exit %d, want one line saying it was already imported:\n%s", code, stderr)
	}
}

// The last line of a run that rejected rows names the input and where the
// rejected rows are: errors.csv in the results folder, or convert's errors
// file beside its output.
func TestRejectedRowsLineNamesTheInputAndTheErrors(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 3, Seed: 1})
	dir := t.TempDir()
	t.Chdir(dir)
	writeCSVTest(t, "ragged.csv", [][]string{{"subject", "content", "email"}, {"a", "b", "a@example.com"}, {"c", "", ""}})
	code, _, stderr := runCLI(t, simEnv(sim), "import", "--create", "-i", "ragged.csv", "--results", "res", "--quiet")
	last := lastLine(stderr)
	if code != exitRejected || last != "udesk-etl import: ragged.csv: 1 row was rejected; see errors.csv in res" {
		t.Errorf("import: exit %d, last line %q", code, last)
	}
	if _, err := os.Stat(filepath.Join("res", "errors.csv")); err != nil {
		t.Error(err)
	}
	fields := filepath.Join(dir, "fields.json")
	if code, _, stderr := runCLI(t, simEnv(sim), "fields", "-o", fields); code != exitOK {
		t.Fatalf("fields: %s", stderr)
	}
	code, _, stderr = runCLI(t, nil, "convert", "-i", "ragged.csv", "-o", "mapped.jsonl", "--fields", fields, "--quiet")
	last = lastLine(stderr)
	if code != exitRejected || last != "udesk-etl convert: ragged.csv: 1 row was rejected; see mapped.errors.csv" {
		t.Errorf("convert: exit %d, last line %q", code, last)
	}
	if _, err := os.Stat("mapped.errors.csv"); err != nil {
		t.Error(err)
	}
	writeCSVTest(t, "good.csv", [][]string{{"subject", "content", "email"}, {"a", "b", "a@example.com"}})
	if code, _, stderr := runCLI(t, nil, "convert", "-i", "good.csv", "-o", "good.jsonl", "--fields", fields, "--quiet"); code != exitOK || strings.Contains(stderr, "errors") {
		t.Errorf("a clean convert: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat("good.errors.csv"); !os.IsNotExist(err) {
		t.Errorf("a clean convert wrote an errors file (%v)", err)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// Mistyped commands and flags get their "did you mean" however they are
// followed; help of a command that does not exist is a usage error; cobra's
// own commands are worded like ours.
func TestMistypesGetSuggestions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"exprot", "--rate", "unlimited", "-o", "t.jsonl"}, `unknown command "exprot": did you mean export?`},
		{[]string{"snyc", "--dataset", "ds"}, `unknown command "snyc": did you mean sync?`},
		{[]string{"export", "-fitler", "2", "-o", "t.csv"}, "unknown flag --fitler: did you mean --filter?"},
		{[]string{"help", "foo"}, `unknown command "foo"`},
		{[]string{"help", "exprot"}, "did you mean export?"},
	} {
		code, stdout, stderr := runCLI(t, nil, tc.args...)
		if code != exitUsage || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	_, help, _ := runCLI(t, nil, "help")
	_, completion, _ := runCLI(t, nil, "completion", "--help")
	for _, text := range []string{help, completion} {
		for _, cobraText := range []string{"Help about any command", "Generate the autocompletion", "`"} {
			if strings.Contains(text, cobraText) {
				t.Errorf("help shows %q:\n%s", cobraText, text)
			}
		}
	}
	if code, stdout, _ := runCLI(t, nil, "__complete", "help", "ex"); code != exitOK || !strings.Contains(stdout, "export") {
		t.Errorf("completing help ex: %q", stdout)
	}
}

// The operation messages name --upsert; a mapping file's unknown key names
// the keys there are; one row is "1 row".
func TestMessagesNameUpsertMappingKeysAndOneRow(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 3, Seed: 1})
	env := simEnv(sim)
	dir := t.TempDir()
	in := filepath.Join(dir, "new.csv")
	writeCSVTest(t, in, [][]string{{"subject", "content", "email"}, {"a", "b", "a@example.com"}})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "-i", in}, "--create, --update, --reply or --upsert --key FIELD"},
		{[]string{"import", "-i", in, "--create", "--reply"}, "one of --create, --update, --reply and --upsert"},
	} {
		if code, _, stderr := runCLI(t, env, tc.args...); code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q:\n%s", tc.args, code, tc.want, stderr)
		}
	}
	mf := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(mf, []byte("columns:\n  subject: subject\nignores: [x]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, env, "import", "--create", "-i", in, "--mapping", mf, "--dry-run")
	if code != exitUsage || !strings.Contains(stderr, `line 3: unknown key "ignores": the keys are columns, ignore, ignore_unknown, values, defaults, constants`) ||
		strings.Contains(stderr, "mapping.MappingFile") {
		t.Errorf("unknown mapping key: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, env, "import", "--create", "-i", in, "--dry-run", "--quiet")
	if code != exitOK || !strings.Contains(stdout, "dry run: 1 row read, 1 would be sent") ||
		!strings.Contains(stdout, "  1 create (POST /api/v1/tickets.json)") || !strings.Contains(stdout, "API calls: 1 write + ") {
		t.Errorf("dry run of one row: exit %d\n%s%s", code, stdout, stderr)
	}
}

// sim --help shows the admin API, and its curl examples work as written.
func TestSimHelpShowsTheAdminAPI(t *testing.T) {
	_, help, _ := runCLI(t, nil, "sim", "--help")
	for _, ep := range []string{"POST   /_sim/mutate", "POST   /_sim/tickets", "PATCH  /_sim/tickets/ID", "DELETE /_sim/tickets/ID",
		"POST   /_sim/fields", "PATCH  /_sim/fields/NAME", "DELETE /_sim/fields/NAME", "--changed-filter 6"} {
		if !strings.Contains(help, ep) {
			t.Errorf("sim --help does not show %q", ep)
		}
	}
	sim := newSim(t, udesktest.Options{Tickets: 50, Seed: 1})
	sum := md5.Sum([]byte(sim.Secret()))
	sign := hex.EncodeToString(sum[:])
	curl := regexp.MustCompile(`curl -s -X (\w+) "\$UDESK_URL(/_sim/[^?"]+)\?sign=\$sign" -d '([^']*)'`)
	examples := curl.FindAllStringSubmatch(help, -1)
	if len(examples) != 2 {
		t.Fatalf("%d curl examples in sim --help, want 2", len(examples))
	}
	for _, ex := range examples {
		req, err := http.NewRequest(ex[1], sim.URL()+ex[2]+"?sign="+sign, strings.NewReader(ex[3]))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":0`) {
			t.Errorf("%s %s: HTTP %d %s", ex[1], ex[2], resp.StatusCode, body)
		}
	}
	if tk, ok := sim.Ticket(7); !ok || tk.Status != "closed" {
		t.Errorf("ticket 7 after the PATCH example: %+v (alive %v)", tk.Status, ok)
	}
	if n := len(sim.Tickets()); n != 50-4+6 {
		t.Errorf("%d tickets after the mutate example, want 52", n)
	}
}

// The state folder line appears only when a state is kept: an export to
// stdout keeps none.
func TestExportToStdoutNamesNoStateFolder(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 3, Seed: 1})
	t.Chdir(t.TempDir())
	code, stdout, stderr := runCLI(t, simEnv(sim), "export", "-o", "-")
	if code != exitOK || strings.Count(stdout, "\n") != 3 || strings.Contains(stderr, "state folder") {
		t.Fatalf("export -o -: exit %d\n%s", code, stderr)
	}
	noStateIn(t, "export -o -", ".")
}

// The README's first command installs the tool from the clone, into
// GOBIN, as it says (no go install ...@latest, which the proxy refuses).
func TestReadmeFirstCommandInstallsFromTheClone(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if blocks == nil {
		t.Fatal("the README has no sh block")
	}
	first, _, _ := strings.Cut(strings.Split(blocks[0][1], "\n")[0], " #")
	first = strings.TrimSpace(first)
	if first != "go install ./cmd/udesk-etl" {
		t.Fatalf("the README's first command is %q, want go install ./cmd/udesk-etl", first)
	}
	for _, bl := range blocks {
		if strings.Contains(bl[1], "@latest") {
			t.Errorf("a README command installs by module path: %s", bl[1])
		}
	}
	if testing.Short() {
		t.Skip("builds the tool")
	}
	gobin := t.TempDir()
	cmd := exec.Command("go", strings.Fields(first)[1:]...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", first, err, out)
	}
	out, err := exec.Command(filepath.Join(gobin, "udesk-etl"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "udesk-etl ") {
		t.Fatalf("the installed tool: %v %s", err, out)
	}
}
