package sources

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
)

// A metadata value longer than one cell holds (a large field catalog) is
// split across cells by the writer and must come back whole.
func TestXLSXMetaLongerThanACellReadsBackWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "long-meta.xlsx")
	long := strings.Repeat("目录", 40000) // 80,000 characters
	schema := pipeline.Schema{
		Columns: []pipeline.Column{{Name: "id", Field: "id", Kind: pipeline.Int64}},
		Meta:    map[string]string{"udesk.catalog": long},
	}
	w, err := sinks.NewXLSXWriter(path, schema, sinks.XLSXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRows([]pipeline.Row{{Values: []any{int64(7)}}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenXLSX(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Meta()["udesk.catalog"]; got != long {
		t.Errorf("catalog meta read back with %d characters, want %d", len([]rune(got)), len([]rune(long)))
	}
}
