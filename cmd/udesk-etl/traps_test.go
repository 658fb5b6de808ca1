package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// An exported workbook with a row added, imported with --create, creates
// nothing and exits 2 saying how many rows hold ids and what to do instead;
// --update's hint for the added row names --new-rows-only, which creates
// only that row.
func TestCreateFromExportedWorkbookIsRefused(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 15, Seed: 3})
	env := simEnv(sim)
	book := filepath.Join(t.TempDir(), "edit.xlsx")
	if code, _, stderr := runCLI(t, env, "export", "-o", book, "--quiet"); code != 0 {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	w := openEditWorkbook(t, book)
	w.set(t, "subject", 17, "a new ticket")
	w.set(t, "content", 17, "added in Excel")
	w.set(t, "user_email", 17, "new@example.com")
	if err := w.f.Save(); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := runCLI(t, env, "import", "--create", "-i", book, "--quiet")
	if code != 2 || !strings.Contains(stderr, "15 of 16 rows hold a ticket id") || !strings.Contains(stderr, "--new-rows-only") {
		t.Fatalf("--create of the exported workbook: exit %d\n%s\nwant exit 2 counting the rows with ids and naming --new-rows-only", code, stderr)
	}
	if code, _, stderr := runCLI(t, env, "import", "--create", "-i", book, "--dry-run", "--quiet"); code != 2 {
		t.Fatalf("the dry run: exit %d\n%s, want 2", code, stderr)
	}
	if n := len(sim.Tickets()); n != 15 {
		t.Fatalf("%d tickets after the refused create, want 15", n)
	}

	// The round trip's hint for the added row names the way.
	results := filepath.Join(t.TempDir(), "u")
	if code, _, stderr := runCLI(t, env, "import", "--update", "-i", book, "--results", results, "--quiet"); code != 3 {
		t.Fatalf("--update: exit %d\n%s, want 3 (the added row rejected)", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(results, "errors.csv"))
	if err != nil || !strings.Contains(string(b), "--create --new-rows-only") {
		t.Fatalf("errors.csv of the update: %s %v; want the hint to name --create --new-rows-only", b, err)
	}

	code, _, stderr = runCLI(t, env, "import", "--create", "--new-rows-only", "-i", book, "--quiet")
	if code != 0 {
		t.Fatalf("--create --new-rows-only: exit %d\n%s", code, stderr)
	}
	if n := len(sim.Tickets()); n != 16 {
		t.Fatalf("%d tickets after --new-rows-only, want 16 (only the added row created)", n)
	}
}

// An export over a workbook (or CSV) it wrote that was edited since keeps
// the edited file beside the new one, importable as it was; an unedited one
// is simply replaced.
func TestExportKeepsAnEditedOutput(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 10, Seed: 4})
	env := simEnv(sim)
	dir := t.TempDir()
	book, table := filepath.Join(dir, "urgent.xlsx"), filepath.Join(dir, "urgent.csv")
	for i := 0; i < 2; i++ { // the second run replaces unedited files
		if code, _, stderr := runCLI(t, env, "export", "-o", book, "-o", table, "--quiet"); code != 0 {
			t.Fatalf("export: exit %d\n%s", code, stderr)
		}
	}
	if kept, _ := filepath.Glob(filepath.Join(dir, "*.edited-*")); len(kept) != 0 {
		t.Fatalf("unedited outputs were kept: %v", kept)
	}
	w := openEditWorkbook(t, book)
	w.set(t, "subject", 2, "edited in Excel")
	if err := w.f.Save(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	first := sim.Tickets()[0].Subject
	if !strings.Contains(string(b), first) {
		t.Fatalf("the CSV does not hold %q", first)
	}
	if err := os.WriteFile(table, []byte(strings.Replace(string(b), first, "edited as text", 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := runCLI(t, env, "export", "-o", book, "-o", table)
	if code != 0 || !strings.Contains(stderr, "was edited since it was exported") {
		t.Fatalf("export over edited files: exit %d\n%s", code, stderr)
	}
	keptBook, _ := filepath.Glob(filepath.Join(dir, "urgent.edited-*.xlsx"))
	keptTable, _ := filepath.Glob(filepath.Join(dir, "urgent.edited-*.csv"))
	if len(keptBook) != 1 || len(keptTable) != 1 {
		t.Fatalf("kept %v and %v, want one of each", keptBook, keptTable)
	}
	if got := openEditWorkbook(t, keptBook[0]).get(t, "subject", 2); got != "edited in Excel" {
		t.Errorf("the kept workbook's edit: %q", got)
	}
	if got := openEditWorkbook(t, book).get(t, "subject", 2); got == "edited in Excel" {
		t.Errorf("the new export still holds the edit")
	}
	// Each kept file still imports as the edit it was: one change.
	for _, kept := range []string{keptBook[0], keptTable[0]} {
		code, stdout, stderr := runCLI(t, env, "import", "--update", "-i", kept, "--dry-run", "--quiet")
		if code != 0 || !regexp.MustCompile(`\b1 rows? changed`).MatchString(stdout) {
			t.Errorf("import --update --dry-run of %s: exit %d\n%s\n%s", kept, code, stdout, stderr)
		}
	}
}

// The same rows imported again from a copy in another folder send nothing:
// the command line registers each import in the user's cache folder.
func TestImportOfACopyElsewhereSendsNothing(t *testing.T) {
	sim := newSim(t, udesktest.Options{})
	env := simEnv(sim)
	a, b := t.TempDir(), t.TempDir()
	data := "subject,content,email\none,c,a@example.com\ntwo,c,a@example.com\n"
	in, copied := filepath.Join(a, "tickets.csv"), filepath.Join(b, "renamed.csv")
	for _, p := range []string{in, copied} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, stderr := runCLI(t, env, "import", "--create", "-i", in, "--quiet"); code != 0 {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}
	code, _, stderr := runCLI(t, env, "import", "--create", "-i", copied)
	if code != 0 || !strings.Contains(stderr, "already imported") {
		t.Fatalf("import of the copy: exit %d\n%s\nwant it reported as already imported", code, stderr)
	}
	if n := len(sim.Tickets()); n != 2 {
		t.Fatalf("%d tickets, want 2", n)
	}
}
