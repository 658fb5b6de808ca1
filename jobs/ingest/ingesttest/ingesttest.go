// Package ingesttest holds what tests of an import share: writing an input,
// finding and reading the results files, the tickets a simulator holds.
package ingesttest

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// ReadCSV reads a results file, checking its BOM and mode 0600.
func ReadCSV(t testing.TB, path string) [][]string {
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

// WriteCSV writes records as a plain UTF-8 CSV input.
func WriteCSV(t testing.TB, path string, recs [][]string) {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.WriteAll(recs)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ResultsDir finds the one results folder an import of input made beside
// it; what is "<op>-results" or "<op>-dryrun".
func ResultsDir(t testing.TB, input, what string) string {
	t.Helper()
	stem := strings.TrimSuffix(filepath.Base(input), filepath.Ext(input))
	m, _ := filepath.Glob(filepath.Join(filepath.Dir(input), stem+"."+what+"-*"))
	if len(m) != 1 {
		t.Fatalf("results folders for %s: %v", input, m)
	}
	return m[0]
}

// TicketsBySubject is the simulator's tickets grouped by subject.
func TicketsBySubject(s *udesktest.Server) map[string][]udesktest.Ticket {
	m := map[string][]udesktest.Ticket{}
	for _, tk := range s.Tickets() {
		m[tk.Subject] = append(m[tk.Subject], tk)
	}
	return m
}

// CopySample copies a file of the repository's samples folder into dir.
func CopySample(t testing.TB, name, dir string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "..", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// LinkedDir returns a new folder and a symlink to it from another folder, so
// that a test can name one file two ways; it skips the test where symlinks
// cannot be made.
func LinkedDir(t testing.TB) (dir, link string) {
	t.Helper()
	dir = t.TempDir()
	link = filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Skip(err)
	}
	return dir, link
}
