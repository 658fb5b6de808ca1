package dataset

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// Scan reads a table as a run left it: tickets at the run's snapshot (time
// travel; "" for the latest), changes and field_history the run's rows
// ("" for every row). The records must be released.
func (s *Store) Scan(ctx context.Context, name, run string) (*arrow.Schema, iter.Seq2[arrow.RecordBatch, error], error) {
	t, err := s.catalog(name).load(ctx)
	if err != nil {
		return nil, nil, err
	}
	if t == nil {
		return nil, nil, fmt.Errorf("dataset %s: no table %s", s.where, name)
	}
	var opts []table.ScanOption
	switch {
	case run == "":
	case name == TableTickets:
		var snap *table.Snapshot
		for _, sn := range snapshotsOf(t) {
			if r, ok := runOf(&sn); ok && r.Run == run {
				snap = &sn
			}
		}
		if snap == nil {
			return nil, nil, fmt.Errorf("dataset %s: table %s has no snapshot of run %s", s.where, name, run)
		}
		opts = append(opts, table.WithSnapshotID(snap.SnapshotID))
	default:
		opts = append(opts, table.WithRowFilter(iceberg.EqualTo(iceberg.Reference(runColumn), run)))
	}
	return t.Scan(opts...).ToArrowRecords(ctx)
}

// TicketTimes hands over the id and updated_at of every ticket of the
// latest published run (reading only those two columns), with that run:
// what a check of a changed-filter run compares with before it merges.
// nil run: no run is published.
func (s *Store) TicketTimes(ctx context.Context, fn func(id int64, updatedAt time.Time) error) (*Run, error) {
	t, err := s.catalog(TableTickets).load(ctx)
	if err != nil || t == nil {
		return nil, err
	}
	r, ok := runOf(t.CurrentSnapshot())
	if !ok {
		return nil, nil
	}
	_, records, err := t.Scan(table.WithSelectedFields("id", "updated_at")).ToArrowRecords(ctx)
	if err != nil {
		return nil, err
	}
	for rec, err := range records {
		if err != nil {
			return nil, err
		}
		err = func() error {
			defer rec.Release()
			ids, ok1 := rec.Column(int(rec.Schema().FieldIndices("id")[0])).(*array.Int64)
			ats, ok2 := rec.Column(int(rec.Schema().FieldIndices("updated_at")[0])).(*array.Timestamp)
			if !ok1 || !ok2 {
				return fmt.Errorf("dataset %s: %s: id or updated_at of an unexpected type", s.where, TableTickets)
			}
			for i := 0; i < ids.Len(); i++ {
				var at time.Time
				if !ats.IsNull(i) {
					at = ats.Value(i).ToTime(arrow.Microsecond)
				}
				if err := fn(ids.Value(i), at); err != nil {
					return err
				}
			}
			return nil
		}()
		if err != nil {
			return nil, err
		}
	}
	return &r, nil
}
