package dataset

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// LatestUpdates hands fn the id and updated_at of every ticket of the latest
// published snapshot (none when no run is published): what a changed-filter
// run checks its filter against. tmpDir stages the snapshot ("" is the
// system's temp folder).
func LatestUpdates(ctx context.Context, s *Store, tmpDir string, fn func(id int64, updated time.Time) error) error {
	runs, err := s.Published(ctx)
	if err != nil || len(runs) == 0 {
		return err
	}
	c, err := s.loadContract(ctx)
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("dataset %s: %s is missing but runs are published", s.where, schemaKey)
	}
	tmp, err := os.MkdirTemp(tmpDir, "dataset-updates-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	prev := filepath.Join(tmp, "previous.parquet")
	if err := s.download(ctx, partKey(TableTickets, runs[len(runs)-1].Run), prev); err != nil {
		return err
	}
	upd := c.index("updated_at")
	return readSnapshot(ctx, prev, c, false, func(r *snapshotRow) error {
		at, ok := r.values[upd].(time.Time)
		if !ok {
			return fmt.Errorf("dataset %s: ticket %d of run %s has no updated_at", s.where, r.id, runs[len(runs)-1].Run)
		}
		return fn(r.id, at)
	})
}
