package datasettest

import (
	"context"
	"io"
	"iter"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/udesk-etl/udesk-etl/sources"
)

// ReadTable reads a Parquet file with the project's reader (cells as the
// CSV export writes them): its header and one map per row, column -> cell,
// in file order. A file that is not whole fails the test.
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

// ReadRecords renders the records of a table scan as ReadTable does, by
// writing them to a Parquet file first (times of day as TIME(ms), the
// project reader's type).
func ReadRecords(t testing.TB, schema *arrow.Schema, records iter.Seq2[arrow.RecordBatch, error]) (header []string, rows []map[string]string) {
	t.Helper()
	fields := schema.Fields()
	for i, f := range fields {
		f.Metadata = arrow.Metadata{}
		if _, ok := f.Type.(*arrow.Time64Type); ok {
			f.Type = arrow.FixedWidthTypes.Time32ms
		}
		fields[i] = f
	}
	out := arrow.NewSchema(fields, nil)
	path := filepath.Join(t.TempDir(), "scan.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(out, f, nil, pqarrow.NewArrowWriterProperties())
	if err != nil {
		t.Fatal(err)
	}
	for rec, err := range records {
		if err != nil {
			t.Fatal(err)
		}
		cols := make([]arrow.Array, rec.NumCols())
		for i := range cols {
			cols[i] = rec.Column(i)
			if a, ok := cols[i].(*array.Time64); ok {
				b := array.NewTime32Builder(memory.DefaultAllocator, arrow.FixedWidthTypes.Time32ms.(*arrow.Time32Type))
				for j := 0; j < a.Len(); j++ {
					if a.IsNull(j) {
						b.AppendNull()
					} else {
						b.Append(arrow.Time32(a.Value(j) / 1000))
					}
				}
				cols[i] = b.NewArray()
			}
		}
		out := array.NewRecordBatch(out, cols, rec.NumRows())
		if err := w.Write(out); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return ReadTable(t, path)
}
