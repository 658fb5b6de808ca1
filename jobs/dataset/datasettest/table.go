package datasettest

import (
	"context"
	"io"
	"testing"

	"github.com/udesk-etl/udesk-etl/sources"
)

// ReadTable reads a dataset's Parquet file with the project's reader (cells
// as the CSV export writes them): its header and one map per row, column ->
// cell, in file order. A file that is not whole fails the test.
func ReadTable(t testing.TB, path string) (header []string, rows []map[string]string) {
	t.Helper()
	r, err := sources.OpenParquet(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		rec, err := r.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		m := map[string]string{}
		for i, h := range r.Header() {
			m[h] = rec.Cells[i]
		}
		rows = append(rows, m)
	}
	return r.Header(), rows
}
