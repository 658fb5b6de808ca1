package sources

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

// readAll reads every record, collecting row errors apart.
func readAll(t testing.TB, r pipeline.RecordReader) (recs []pipeline.Record, rowErrs []*pipeline.RowError) {
	t.Helper()
	for {
		rec, err := r.Next(context.Background())
		if err == io.EOF {
			return recs, rowErrs
		}
		var re *pipeline.RowError
		if errors.As(err, &re) {
			rowErrs = append(rowErrs, re)
			continue
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		recs = append(recs, rec)
	}
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
