package dataset

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
)

// The dataset's tables.
const (
	TableTickets = "tickets"
	TableChanges = "changes"
	TableHistory = "field_history"
)

// icebergType is a column kind's Iceberg type: instants are timestamptz
// (UTC, microseconds), times of day Iceberg's time (microseconds).
func icebergType(k pipeline.Kind) iceberg.Type {
	switch k {
	case pipeline.Int64:
		return iceberg.PrimitiveTypes.Int64
	case pipeline.Float64:
		return iceberg.PrimitiveTypes.Float64
	case pipeline.Date:
		return iceberg.PrimitiveTypes.Date
	case pipeline.Timestamp:
		return iceberg.PrimitiveTypes.TimestampTz
	case pipeline.TimeOfDay:
		return iceberg.PrimitiveTypes.Time
	case pipeline.StringList:
		return &iceberg.ListType{Element: iceberg.PrimitiveTypes.String}
	}
	return iceberg.PrimitiveTypes.String
}

// icebergSchema is a new table's schema for the columns of s (ids are
// assigned in order when the table is made), plus _raw_values when raw.
func icebergSchema(s pipeline.Schema, raw bool) *iceberg.Schema {
	var fields []iceberg.NestedField
	id := 0
	add := func(name string, t iceberg.Type) {
		id++
		if l, ok := t.(*iceberg.ListType); ok {
			l.ElementID = 1000 + id
		}
		fields = append(fields, iceberg.NestedField{ID: id, Name: name, Type: t})
	}
	for _, c := range s.Columns {
		add(c.Name, icebergType(c.Kind))
	}
	if raw {
		add(sinks.RawValuesColumn, iceberg.PrimitiveTypes.String)
	}
	return iceberg.NewSchema(0, fields...)
}

// stagedReader reads a staged Parquet file (written by sinks.NewParquetWriter)
// as the records iceberg-go appends: times of day widened from TIME(ms) to
// Iceberg's microseconds, and the raw-values column dropped unless kept.
type stagedReader struct {
	refs   atomic.Int64
	pf     *file.Reader
	rr     pqarrow.RecordReader
	schema *arrow.Schema
	cur    arrow.RecordBatch
	err    error
}

// stagedBatch is the rows of a record handed to iceberg-go. Its writer
// queues up to 64 records while it encodes (a queue we cannot size through
// Append or Overwrite), and reading the staged file is faster than encoding
// it: at 4096 rows the queue held a quarter of a million tickets, over
// 200 MiB of a 1M first run. At 512 it holds at most 32Ki rows.
const stagedBatch = 512

func openStaged(ctx context.Context, path string, keepRaw bool) (*stagedReader, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, fmt.Errorf("staged %s: %w", path, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: stagedBatch}, memory.DefaultAllocator)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("staged %s: %w", path, err)
	}
	src, err := fr.Schema()
	if err != nil {
		pf.Close()
		return nil, err
	}
	var cols []int
	var fields []arrow.Field
	for i, f := range src.Fields() {
		if f.Name == sinks.RawValuesColumn && !keepRaw {
			continue
		}
		cols = append(cols, i)
		if _, ok := f.Type.(*arrow.Time32Type); ok {
			f.Type = arrow.FixedWidthTypes.Time64us
		}
		f.Metadata = arrow.Metadata{}
		fields = append(fields, f)
	}
	rr, err := fr.GetRecordReader(ctx, cols, nil)
	if err != nil {
		pf.Close()
		return nil, err
	}
	r := &stagedReader{pf: pf, rr: rr, schema: arrow.NewSchema(fields, nil)}
	r.refs.Store(1)
	return r, nil
}

func (r *stagedReader) Retain() { r.refs.Add(1) }
func (r *stagedReader) Release() {
	if r.refs.Add(-1) == 0 {
		if r.cur != nil {
			r.cur.Release()
			r.cur = nil
		}
		r.rr.Release()
		r.pf.Close()
	}
}
func (r *stagedReader) Schema() *arrow.Schema          { return r.schema }
func (r *stagedReader) Record() arrow.RecordBatch      { return r.cur }
func (r *stagedReader) RecordBatch() arrow.RecordBatch { return r.cur }
func (r *stagedReader) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.rr.Err()
}

func (r *stagedReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.err != nil || !r.rr.Next() {
		return false
	}
	rec := r.rr.RecordBatch()
	cols := make([]arrow.Array, rec.NumCols())
	for i := range cols {
		a := rec.Column(i)
		if t, ok := a.(*array.Time32); ok {
			b := array.NewTime64Builder(memory.DefaultAllocator, arrow.FixedWidthTypes.Time64us.(*arrow.Time64Type))
			for j := 0; j < t.Len(); j++ {
				if t.IsNull(j) {
					b.AppendNull()
				} else {
					b.Append(arrow.Time64(int64(t.Value(j)) * 1000))
				}
			}
			cols[i] = b.NewArray()
			b.Release()
			defer cols[i].Release()
			continue
		}
		cols[i] = a
	}
	r.cur = array.NewRecordBatch(r.schema, cols, rec.NumRows())
	return true
}

var _ array.RecordReader = (*stagedReader)(nil)
