package dataset

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/udesk-etl/udesk-etl/sinks"
	"github.com/udesk-etl/udesk-etl/sources"
)

// snapshotRow is one ticket of a snapshot read back, aligned with the
// contract's columns (a column the table lacks is nil).
type snapshotRow struct {
	id     int64
	values []any
	raw    map[int]string // contract column -> raw text
	// relabelled: a select value was read under an option's current label
	relabelled bool
}

// readSnapshot streams the rows of a tickets snapshot in the contract's
// columns, matched by name (a contract never renames a column); only the
// rows filter selects when it is not nil (the files whose id ranges cannot
// hold them are not read).
func readSnapshot(ctx context.Context, t *table.Table, snap *table.Snapshot, c *Contract, filter iceberg.BooleanExpression, fn func(*snapshotRow) error) error {
	if snap == nil {
		return nil
	}
	idOnly := false
	// One file at a time: the rows stream through, memory stays flat.
	opts := []table.ScanOption{table.WithSnapshotID(snap.SnapshotID), table.WithMaxConcurrency(1), table.WithArrowBatchSize(8192)}
	if filter != nil {
		opts = append(opts, table.WithRowFilter(filter))
	}
	schema, records, err := t.Scan(opts...).ToArrowRecords(ctx)
	if err != nil {
		return fmt.Errorf("previous snapshot of %s: %w", TableTickets, err)
	}
	idCol := c.index("id")
	byName := map[string]int{}
	for j, col := range c.Columns {
		byName[col.Name] = j
	}
	to := make([]int, len(schema.Fields())) // file column -> contract column, -1 raw values, -2 skipped
	hasID := false
	for i, f := range schema.Fields() {
		j, ok := byName[f.Name]
		switch {
		case ok && (!idOnly || j == idCol):
			to[i] = j
			hasID = hasID || j == idCol
		case f.Name == sinks.RawValuesColumn && !idOnly:
			to[i] = -1
		default:
			to[i] = -2
		}
	}
	if !hasID {
		return fmt.Errorf("previous snapshot of %s: no id column", TableTickets)
	}
	for rec, err := range records {
		if err != nil {
			return fmt.Errorf("previous snapshot of %s: %w", TableTickets, err)
		}
		err := func() error {
			defer rec.Release()
			for i := 0; i < int(rec.NumRows()); i++ {
				row := &snapshotRow{values: make([]any, len(c.Columns))}
				for k, j := range to {
					a := rec.Column(k)
					switch {
					case j == -1:
						if err := row.readRaw(a, i, byName); err != nil {
							return fmt.Errorf("previous snapshot of %s: %w", TableTickets, err)
						}
					case j >= 0:
						row.values[j] = sources.RowValue(a, i)
					}
				}
				id, ok := row.values[idCol].(int64)
				if !ok {
					return fmt.Errorf("previous snapshot of %s: a row without an int64 id", TableTickets)
				}
				row.id = id
				if err := fn(row); err != nil {
					return err
				}
			}
			return nil
		}()
		if err != nil {
			return err
		}
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
