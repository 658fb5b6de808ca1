package dataset

import (
	"context"
	"fmt"
	"iter"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// Scan reads a table as a run left it: tickets at the run's snapshot (time
// travel; "" for the latest), changes and field_history the run's rows
// ("" for every row). The records must be released.
func (s *Store) Scan(ctx context.Context, name, run string) (*arrow.Schema, iter.Seq2[arrow.RecordBatch, error], error) {
	t, _, err := s.catalog(name).load(ctx)
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
