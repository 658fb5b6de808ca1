package main

import (
	"os"
	"path/filepath"
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
