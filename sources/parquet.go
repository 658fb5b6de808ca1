package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// RawValuesColumn is the Parquet column in which the exporter keeps, per row,
// the values that did not fit their column's type: a JSON object from column
// name (or, as a decimal string, the column's 0-based index among the data
// columns) to raw string.
const RawValuesColumn = mapping.RawValuesColumn

// TimezoneMetaKey is the key-value metadata entry that names the offset
// (e.g. "+08:00") or IANA zone timestamps are shown in; see OpenParquet.
const TimezoneMetaKey = "udesk.timezone"

const parquetBatchRows = 4096

// ParquetReader streams a Parquet file in record batches.
type ParquetReader struct {
	path    string
	pf      *file.Reader
	rr      pqarrow.RecordReader
	header  []string
	cols    []int // file column index of each header column
	rawCol  int   // index of _raw_values, -1 without one
	loc     *time.Location
	meta    map[string]string
	batch   arrow.RecordBatch
	i       int // next row in batch
	row     int // records returned so far
	closed  bool
	rawByID map[string]int // _raw_values key -> header column
}

// OpenParquet opens a Parquet file. Every column becomes strings in the text
// forms of our CSV output: timestamps in mapping.TimestampLayout, dates
// "2006-01-02", times "15:04:05", lists joined with ",", null as "".
// A timestamp with a zone (isAdjustedToUTC=true) is an instant, shown in the
// column's own Arrow time zone when it is not UTC, else in the zone named by
// the udesk.timezone metadata entry, else in +0800 (Udesk's offset). A
// timestamp without one (isAdjustedToUTC=false: DuckDB's TIMESTAMP, naive
// pandas and polars datetimes) is a wall-clock time in that same zone. The _raw_values column is not a data column: where
// a row's value is null and _raw_values holds the raw string for that column,
// the raw string is returned.
func OpenParquet(path string) (*ParquetReader, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable Parquet file: %v", path, err)
	}
	r := &ParquetReader{path: path, pf: pf, rawCol: -1, meta: map[string]string{}}
	if err := r.open(); err != nil {
		pf.Close()
		return nil, err
	}
	return r, nil
}

func (r *ParquetReader) open() error {
	kv := r.pf.MetaData().KeyValueMetadata()
	for i, k := range kv.Keys() {
		r.meta[k] = kv.Values()[i]
	}
	r.loc = time.FixedZone("+0800", 8*3600)
	if tz := r.meta[TimezoneMetaKey]; tz != "" {
		loc, err := parseZone(tz)
		if err != nil {
			return fmt.Errorf("%s: metadata %s: %v", r.path, TimezoneMetaKey, err)
		}
		r.loc = loc
	}
	fr, err := pqarrow.NewFileReader(r.pf, pqarrow.ArrowReadProperties{BatchSize: parquetBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("%s: %v", r.path, err)
	}
	schema, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("%s: %v", r.path, err)
	}
	var names []string
	for i, f := range schema.Fields() {
		if f.Name == RawValuesColumn {
			r.rawCol = i
			continue
		}
		names = append(names, f.Name)
		r.cols = append(r.cols, i)
	}
	if r.header, err = checkHeader(r.path, names); err != nil {
		return err
	}
	r.rawByID = map[string]int{}
	for i := range r.header {
		r.rawByID[strconv.Itoa(i)] = i
	}
	for i, h := range r.header {
		r.rawByID[h] = i
	}
	if r.rr, err = fr.GetRecordReader(context.Background(), nil, nil); err != nil {
		return fmt.Errorf("%s: %v", r.path, err)
	}
	return nil
}

// parseZone accepts "+08:00", "+0800", "UTC" or an IANA name.
func parseZone(s string) (*time.Location, error) {
	for _, layout := range []string{"-07:00", "-0700", "-07"} {
		if t, err := time.Parse(layout, s); err == nil {
			_, off := t.Zone()
			return time.FixedZone(t.Format("-0700"), off), nil
		}
	}
	return time.LoadLocation(s)
}

// Header returns the column names, _raw_values left out.
func (r *ParquetReader) Header() []string { return r.header }

// Meta returns the file's key-value metadata.
func (r *ParquetReader) Meta() map[string]string { return r.meta }

// Next returns the next record; its Row is the 1-based record number.
func (r *ParquetReader) Next(ctx context.Context) (pipeline.Record, error) {
	if r.closed {
		return pipeline.Record{}, errClosed
	}
	if err := ctxErr(ctx); err != nil {
		return pipeline.Record{}, err
	}
	for r.batch == nil || r.i >= int(r.batch.NumRows()) {
		if !r.rr.Next() {
			if err := r.rr.Err(); err != nil {
				return pipeline.Record{}, fmt.Errorf("%s: %v", r.path, err)
			}
			return pipeline.Record{}, io.EOF
		}
		r.batch, r.i = r.rr.RecordBatch(), 0
	}
	r.row++
	pos := pipeline.Position{File: r.path, Row: r.row}
	cells := make([]string, len(r.cols))
	for c, fc := range r.cols {
		cells[c] = r.cell(r.batch.Column(fc), r.i)
	}
	if r.rawCol >= 0 {
		if err := r.applyRaw(cells, r.batch.Column(r.rawCol), r.i, pos); err != nil {
			r.i++
			return pipeline.Record{Pos: pos, Cells: cells}, err
		}
	}
	r.i++
	return pipeline.Record{Pos: pos, Cells: cells}, nil
}

// applyRaw fills null cells from the row's _raw_values.
func (r *ParquetReader) applyRaw(cells []string, col arrow.Array, i int, pos pipeline.Position) error {
	s := r.cell(col, i)
	if s == "" {
		return nil
	}
	var raw map[string]string
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return &pipeline.RowError{Pos: pos, Column: RawValuesColumn, Err: fmt.Errorf("not a JSON object of strings: %v", err)}
	}
	for k, v := range raw {
		c, ok := r.rawByID[k]
		if ok && r.batch.Column(r.cols[c]).IsNull(i) {
			cells[c] = v
		}
	}
	return nil
}

// cell renders value i of a column.
func (r *ParquetReader) cell(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return ""
	}
	switch a := a.(type) {
	// Text is literal: escaped like a CSV cell, the form import undoes.
	case *array.String:
		return mapping.EscapeFormula(a.Value(i))
	case *array.LargeString:
		return mapping.EscapeFormula(a.Value(i))
	case *array.Binary:
		return string(a.Value(i))
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'f', -1, 64)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'f', -1, 32)
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.Timestamp:
		typ := a.DataType().(*arrow.TimestampType)
		t := a.Value(i).ToTime(typ.Unit)
		if typ.TimeZone == "" {
			// No zone (isAdjustedToUTC=false): the digits are a wall-clock
			// time, read in the file's zone as a CSV cell would be.
			return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), r.loc).Format(mapping.TimestampLayout)
		}
		loc := r.loc
		if !strings.EqualFold(typ.TimeZone, "UTC") {
			if l, err := parseZone(typ.TimeZone); err == nil {
				loc = l
			}
		}
		return t.In(loc).Format(mapping.TimestampLayout)
	case *array.Date32:
		return a.Value(i).ToTime().Format("2006-01-02")
	case *array.Date64:
		return a.Value(i).ToTime().Format("2006-01-02")
	case *array.Time32:
		return a.Value(i).ToTime(a.DataType().(*arrow.Time32Type).Unit).Format("15:04:05")
	case *array.Time64:
		return a.Value(i).ToTime(a.DataType().(*arrow.Time64Type).Unit).Format("15:04:05")
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		vals := a.ListValues()
		parts := make([]string, 0, end-start)
		for j := start; j < end; j++ {
			parts = append(parts, r.cell(vals, int(j)))
		}
		return strings.Join(parts, ",")
	case *array.Dictionary:
		return r.cell(a.Dictionary(), a.GetValueIndex(i))
	}
	return a.ValueStr(i)
}

// Close releases the file.
func (r *ParquetReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.rr.Release()
	return r.pf.Close()
}
