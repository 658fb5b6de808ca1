package dataset

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/apache/iceberg-go/table"
	"gocloud.dev/blob"
)

// DefaultGrace is how long a file nothing references any more stays before
// it is deleted: a reader's query that began on an older snapshot still
// finds it.
const DefaultGrace = time.Hour

// retain expires the tickets snapshots older than the last keep runs (keep
// 0 keeps every one; changes and field_history are never expired), then
// removes, in each table, the files no snapshot references that are older
// than grace: what expired snapshots and failed or killed commits left.
func (s *Store) retain(ctx context.Context, keep int, grace time.Duration, now time.Time) error {
	if grace <= 0 {
		grace = DefaultGrace
	}
	if keep > 0 {
		if err := s.expire(ctx, keep); err != nil {
			return err
		}
	}
	for _, name := range []string{TableTickets, TableChanges, TableHistory} {
		if err := s.collect(ctx, name, now.Add(-grace)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) expire(ctx context.Context, keep int) error {
	c := s.catalog(TableTickets)
	t, _, err := c.load(ctx)
	if err != nil || t == nil {
		return err
	}
	snaps := snapshotsOf(t)
	cur := t.CurrentSnapshot()
	if len(snaps) <= keep || cur == nil {
		return nil
	}
	var ids []int64
	for _, snap := range snaps[:len(snaps)-keep] {
		if snap.SnapshotID != cur.SnapshotID {
			ids = append(ids, snap.SnapshotID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	id := cur.SnapshotID
	_, _, err = c.CommitTable(ctx, nil, []table.Requirement{table.AssertRefSnapshotID(table.MainBranch, &id)},
		[]table.Update{table.NewRemoveSnapshotsUpdate(ids, false)})
	if err != nil {
		return fmt.Errorf("--keep %d: expiring snapshots of %s: %w", keep, TableTickets, err)
	}
	return nil
}

// collect deletes a table's data files and manifests that no snapshot of
// its current metadata references and that were written before cutoff.
// Only the files iceberg-go writes for this tool (data/*.parquet,
// metadata/*.avro) are candidates; metadata versions stay (they are the
// table's history, and small).
func (s *Store) collect(ctx context.Context, name string, cutoff time.Time) error {
	t, _, err := s.catalog(name).load(ctx)
	if err != nil || t == nil {
		return err
	}
	live := map[string]bool{}
	fio, _ := t.FS(ctx)
	for _, snap := range t.Metadata().Snapshots() {
		live[s.key(snap.ManifestList)] = true
		mfs, err := snap.Manifests(fio)
		if err != nil {
			return fmt.Errorf("dataset %s: %s: %w", s.where, name, err)
		}
		for _, mf := range mfs {
			live[s.key(mf.FilePath())] = true
			entries, err := mf.FetchEntries(fio, true) // a deleted entry is not in the snapshot
			if err != nil {
				return fmt.Errorf("dataset %s: %s: %w", s.where, name, err)
			}
			for _, e := range entries {
				live[s.key(e.DataFile().FilePath())] = true
			}
		}
	}
	var stale []string
	it := s.bucket.List(&blob.ListOptions{Prefix: name + "/"})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("dataset %s: list %s: %w", s.where, name, err)
		}
		ours := strings.HasPrefix(obj.Key, name+"/data/") && strings.HasSuffix(obj.Key, ".parquet") ||
			strings.HasPrefix(obj.Key, name+"/metadata/") && strings.HasSuffix(obj.Key, ".avro")
		if !obj.IsDir && ours && !live[obj.Key] && obj.ModTime.Before(cutoff) {
			stale = append(stale, obj.Key)
		}
	}
	return s.remove(ctx, stale...)
}
