package ingest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteResultsRemovesStaleTemps: a run killed while it wrote success.csv
// leaves its temp file; the next run's results leave none.
func TestWriteResultsRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".success.csv.tmp-1587155380")
	if err := os.WriteFile(stale, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&tally{}).writeResults(dir, []string{"subject"}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 || names[0] != "errors.csv" || names[1] != "success.csv" {
		t.Errorf("results folder holds %v, want errors.csv and success.csv", names)
	}
}
