package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/sinks"
)

// snapshotRow is one ticket of a snapshot read back, aligned with the
// contract's columns (a column the file lacks is nil).
type snapshotRow struct {
	id     int64
	values []any
	raw    map[int]string // contract column -> raw text
}

// readSnapshot streams a snapshot file's rows in the contract's columns. The
// file's columns are matched by name: a contract never renames a column.
// With idOnly, only the id column is read (values stay nil).
func readSnapshot(ctx context.Context, path string, c *Contract, idOnly bool, fn func(*snapshotRow) error) error {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return fmt.Errorf("previous snapshot %s: %w", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 4096}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("previous snapshot %s: %w", path, err)
	}
	schema, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("previous snapshot %s: %w", path, err)
	}
	idCol := c.index("id")
	byName := map[string]int{}
	for j, col := range c.Columns {
		byName[col.Name] = j
	}
	var read []int // file columns read
	var to []int   // their contract columns, -1 for _raw_values
	for i, f := range schema.Fields() {
		j, ok := byName[f.Name]
		switch {
		case ok && (!idOnly || j == idCol):
			read, to = append(read, i), append(to, j)
		case f.Name == sinks.RawValuesColumn && !idOnly:
			read, to = append(read, i), append(to, -1)
		}
	}
	if !slices.Contains(to, idCol) {
		return fmt.Errorf("previous snapshot %s: no id column", path)
	}
	rr, err := fr.GetRecordReader(ctx, read, nil)
	if err != nil {
		return fmt.Errorf("previous snapshot %s: %w", path, err)
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := &snapshotRow{values: make([]any, len(c.Columns))}
			for k, j := range to {
				a := rec.Column(k)
				if j < 0 {
					if err := row.readRaw(a, i, byName); err != nil {
						return fmt.Errorf("previous snapshot %s: %w", path, err)
					}
					continue
				}
				row.values[j] = arrowValue(a, i)
			}
			id, ok := row.values[idCol].(int64)
			if !ok {
				return fmt.Errorf("previous snapshot %s: a row without an int64 id", path)
			}
			row.id = id
			if err := fn(row); err != nil {
				return err
			}
		}
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("previous snapshot %s: %w", path, err)
	}
	return nil
}

// readRaw reads the row's _raw_values: a JSON object, column name -> text.
func (r *snapshotRow) readRaw(a arrow.Array, i int, byName map[string]int) error {
	if a.IsNull(i) {
		return nil
	}
	s, ok := a.(*array.String)
	if !ok {
		return fmt.Errorf("%s is not a string column", sinks.RawValuesColumn)
	}
	var raw map[string]string
	if err := json.Unmarshal([]byte(s.Value(i)), &raw); err != nil {
		return fmt.Errorf("%s: %v", sinks.RawValuesColumn, err)
	}
	for name, text := range raw {
		if j, ok := byName[name]; ok {
			if r.raw == nil {
				r.raw = map[int]string{}
			}
			r.raw[j] = text
		}
	}
	return nil
}

// arrowValue is value i of a column in the Go form of pipeline.Row (what
// the Parquet writer was given), instants in UTC.
func arrowValue(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.Date32:
		return a.Value(i).ToTime()
	case *array.Timestamp:
		return a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit)
	case *array.Time32: // a time-of-day field, TIME(ms); the row holds "15:04:05"
		return a.Value(i).ToTime(a.DataType().(*arrow.Time32Type).Unit).Format(mapping.TimeLayout)
	case *array.List:
		start, end := a.ValueOffsets(i)
		vals := a.ListValues().(*array.String)
		out := make([]string, 0, end-start)
		for j := start; j < end; j++ {
			out = append(out, vals.Value(int(j)))
		}
		return out
	}
	return a.ValueStr(i)
}
