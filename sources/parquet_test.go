package sources

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/udesk-etl/udesk-etl/mapping"
)

func writeParquet(t *testing.T, meta map[string]string, rows int) string {
	t.Helper()
	md := arrow.MetadataFrom(meta)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "subject", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "created_at", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "日期", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: RawValuesColumn, Type: arrow.BinaryTypes.String, Nullable: true},
	}, &md)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	ts := time.Date(2024, 1, 2, 7, 4, 5, 0, time.UTC)
	for i := 0; i < rows; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i + 1))
		b.Field(1).(*array.StringBuilder).Append("多行\r\n文本")
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMilli()))
		b.Field(3).(*array.Date32Builder).Append(arrow.Date32FromTime(ts))
		lb := b.Field(4).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.StringBuilder).AppendValues([]string{"a", "b"}, nil)
		if i == 0 {
			b.Field(5).(*array.Float64Builder).AppendNull()
			b.Field(6).(*array.StringBuilder).Append(`{"amount":"约 12 元"}`)
		} else {
			b.Field(5).(*array.Float64Builder).Append(13.33)
			b.Field(6).(*array.StringBuilder).AppendNull()
		}
	}
	return saveParquet(t, b, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(1000)), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
}

// saveParquet writes the rows built in b to a file.
func saveParquet(t *testing.T, b *array.RecordBuilder, props *parquet.WriterProperties, aprops pqarrow.ArrowWriterProperties) string {
	t.Helper()
	rec := b.NewRecordBatch()
	defer rec.Release()
	p := filepath.Join(t.TempDir(), "in.parquet")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, props, aprops)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParquet(t *testing.T) {
	p := writeParquet(t, map[string]string{"udesk.catalog": "{}"}, 5000)
	r, err := Open(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if want := []string{"id", "subject", "created_at", "日期", "tags", "amount"}; !reflect.DeepEqual(r.Header(), want) {
		t.Fatalf("header %q, want %q", r.Header(), want)
	}
	if got := r.(MetaReader).Meta()["udesk.catalog"]; got != "{}" {
		t.Errorf("meta udesk.catalog = %q", got)
	}
	recs, errs := readAll(t, r)
	if len(recs) != 5000 || len(errs) != 0 {
		t.Fatalf("%d records, errors %v", len(recs), errs)
	}
	want := []string{"1", "多行\r\n文本", "2024-01-02T15:04:05+08:00", "2024-01-02", "a,b", "约 12 元"}
	if !reflect.DeepEqual(recs[0].Cells, want) || recs[0].Pos.Row != 1 {
		t.Errorf("record 1 = %+v, want %q", recs[0], want)
	}
	if last := recs[4999]; last.Pos.Row != 5000 || last.Cells[0] != "5000" || last.Cells[5] != "13.33" {
		t.Errorf("last record = %+v", last)
	}
}

func TestParquetTimezoneFromMeta(t *testing.T) {
	p := writeParquet(t, map[string]string{TimezoneMetaKey: "-05:00"}, 1)
	r, err := Open(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, _ := readAll(t, r)
	if got := recs[0].Cells[2]; got != "2024-01-02T02:04:05-05:00" {
		t.Errorf("timestamp %q", got)
	}
}

func TestParquetNotParquet(t *testing.T) {
	p := writeFile(t, "x.parquet", []byte("a,b\n"))
	if _, err := Open(p, OpenOptions{}); err == nil {
		t.Fatal("no error")
	}
}

// writeParquetColumns writes one row of the given columns, without the
// stored Arrow schema (as DuckDB, pandas and polars write files).
func writeParquetColumns(t *testing.T, fields []arrow.Field, appendRow func(b *array.RecordBuilder)) string {
	t.Helper()
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	appendRow(b)
	return saveParquet(t, b, parquet.NewWriterProperties(), pqarrow.NewArrowWriterProperties())
}

// TestParquetNaiveTimestampIsWallClock: a timestamp without a zone
// (isAdjustedToUTC=false, DuckDB's TIMESTAMP, a naive pandas or polars
// datetime) is a wall-clock time in the tenant's zone, like a CSV cell; a
// zoned one (isAdjustedToUTC=true) is an instant.
func TestParquetNaiveTimestampIsWallClock(t *testing.T) {
	wall := time.Date(2024, 3, 5, 14, 15, 0, 0, time.UTC) // the digits as stored
	instant := time.Date(2024, 3, 5, 14, 15, 0, 0, time.FixedZone("", 8*3600))
	p := writeParquetColumns(t, []arrow.Field{
		{Name: "naive_us", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
		{Name: "naive_ms", Type: &arrow.TimestampType{Unit: arrow.Millisecond}},
		{Name: "zoned", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}, func(b *array.RecordBuilder) {
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(wall.UnixMicro()))
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(wall.UnixMilli()))
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(instant.UnixMicro()))
	})
	pf, err := file.OpenParquetFile(p, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, false, true} {
		lt, ok := pf.MetaData().Schema.Column(i).LogicalType().(interface{ IsAdjustedToUTC() bool })
		if !ok || lt.IsAdjustedToUTC() != want {
			t.Fatalf("column %d: logical type %v, want isAdjustedToUTC=%v", i, pf.MetaData().Schema.Column(i).LogicalType(), want)
		}
	}
	pf.Close()
	r, err := Open(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, errs := readAll(t, r)
	if len(recs) != 1 || len(errs) != 0 {
		t.Fatalf("%d records, errors %v", len(recs), errs)
	}
	want := []string{"2024-03-05T14:15:00+08:00", "2024-03-05T14:15:00+08:00", "2024-03-05T14:15:00+08:00"}
	if !reflect.DeepEqual(recs[0].Cells, want) {
		t.Errorf("cells %q, want %q", recs[0].Cells, want)
	}
}

// Text in Parquet and JSON lines is literal (neither format runs formulas):
// the readers hand it back escaped, the form import undoes, so a value that
// starts with = or ' reaches Udesk exactly as the file holds it.
func TestLiteralTextFormats(t *testing.T) {
	values := []string{"=1+2", "'=SUM(A1)", "''twice", "'plain", "plain"}
	p := writeParquetColumns(t, []arrow.Field{{Name: "subject", Type: arrow.BinaryTypes.String}}, func(b *array.RecordBuilder) {
		for _, v := range values {
			b.Field(0).(*array.StringBuilder).Append(v)
		}
	})
	var jl strings.Builder
	for _, v := range values {
		b, _ := json.Marshal(map[string]string{"subject": v})
		jl.Write(append(b, '\n'))
	}
	j := writeFile(t, "t.jsonl", []byte(jl.String()))
	for _, path := range []string{p, j} {
		r, err := Open(path, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		recs, errs := readAll(t, r)
		r.Close()
		if len(errs) > 0 || len(recs) != len(values) {
			t.Fatalf("%s: %d records, errors %v", path, len(recs), errs)
		}
		for i, rec := range recs {
			if got := mapping.UnescapeFormula(rec.Cells[0]); got != values[i] {
				t.Errorf("%s row %d: %q imports as %q", filepath.Ext(path), i+1, values[i], got)
			}
		}
	}
}
