package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	icebergio "github.com/apache/iceberg-go/io"
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
		if err := s.expire(ctx, keep, now); err != nil {
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

func (s *Store) expire(ctx context.Context, keep int, now time.Time) error {
	c := s.catalog(TableTickets)
	t, err := c.load(ctx)
	if err != nil || t == nil {
		return err
	}
	snaps := snapshotsOf(t)
	cur := t.CurrentSnapshot()
	if len(snaps) <= keep || cur == nil {
		return nil
	}
	var ids []int64
	var gone, kept []table.Snapshot
	for i, snap := range snaps {
		if i < len(snaps)-keep && snap.SnapshotID != cur.SnapshotID {
			ids = append(ids, snap.SnapshotID)
			gone = append(gone, snap)
		} else {
			kept = append(kept, snap)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	// The files only the expired snapshots use are listed first, so that
	// they stay for the grace period from now, not from when written.
	fio, _ := t.FS(ctx)
	goneFiles, err := s.filesOf(fio, gone)
	if err != nil {
		return err
	}
	keptFiles, err := s.filesOf(fio, kept)
	if err != nil {
		return err
	}
	var list []string
	for k := range goneFiles {
		if !keptFiles[k] {
			list = append(list, k)
		}
	}
	slices.Sort(list)
	data, err := json.Marshal(list)
	if err != nil {
		return err
	}
	key := fmt.Sprintf("%s/metadata/%s%d.json", TableTickets, expiredPrefix, now.UnixMilli())
	if err := s.write(ctx, key, data); err != nil {
		return err
	}
	id := cur.SnapshotID
	_, _, err = c.CommitTable(ctx, nil, []table.Requirement{table.AssertRefSnapshotID(table.MainBranch, &id)},
		[]table.Update{table.NewRemoveSnapshotsUpdate(ids, false)})
	if err != nil {
		return fmt.Errorf("--keep %d: expiring snapshots of %s: %w", keep, TableTickets, err)
	}
	return nil
}

// expiredPrefix names the lists of files that snapshots expired at a time
// (metadata/udesk-expired-UNIXMS.json) left unreferenced.
const expiredPrefix = "udesk-expired-"

// filesOf returns the dataset keys of the manifest lists, manifests and
// data files of snaps.
func (s *Store) filesOf(fio icebergio.IO, snaps []table.Snapshot) (map[string]bool, error) {
	files := map[string]bool{}
	for _, snap := range snaps {
		files[s.key(snap.ManifestList)] = true
		mfs, err := snap.Manifests(fio)
		if err != nil {
			return nil, fmt.Errorf("dataset %s: %w", s.where, err)
		}
		for _, mf := range mfs {
			if files[s.key(mf.FilePath())] {
				continue // a manifest the snapshots share: read once
			}
			files[s.key(mf.FilePath())] = true
			entries, err := mf.FetchEntries(fio, true) // a deleted entry is not in the snapshot
			if err != nil {
				return nil, fmt.Errorf("dataset %s: %w", s.where, err)
			}
			for _, e := range entries {
				files[s.key(e.DataFile().FilePath())] = true
			}
		}
	}
	return files, nil
}

// collect deletes a table's data files and manifests that no snapshot of
// its current metadata references and that became unreferenced before
// cutoff: files of snapshots expired before it (listed when they expired),
// and files written before it that no snapshot ever took (a failed or
// killed commit's). Only the files iceberg-go writes for this tool
// (data/*.parquet, metadata/*.avro) are candidates; metadata versions stay
// (they are the table's history, and small).
func (s *Store) collect(ctx context.Context, name string, cutoff time.Time) error {
	t, err := s.catalog(name).load(ctx)
	if err != nil || t == nil {
		return err
	}
	fio, _ := t.FS(ctx)
	live, err := s.filesOf(fio, t.Metadata().Snapshots())
	if err != nil {
		return err
	}
	var stale, lists []string
	young := map[string]bool{} // files of snapshots expired within the grace period
	it := s.bucket.List(&blob.ListOptions{Prefix: name + "/"})
	var candidates []*blob.ListObject
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("dataset %s: list %s: %w", s.where, name, err)
		}
		if obj.IsDir {
			continue
		}
		if ms, ok := strings.CutPrefix(obj.Key, name+"/metadata/"+expiredPrefix); ok {
			at, err := strconv.ParseInt(strings.TrimSuffix(ms, ".json"), 10, 64)
			if err != nil {
				continue
			}
			if time.UnixMilli(at).Before(cutoff) {
				lists = append(lists, obj.Key)
				continue
			}
			data, err := s.read(ctx, obj.Key)
			if err != nil {
				return err
			}
			var files []string
			if err := json.Unmarshal(data, &files); err != nil {
				return fmt.Errorf("dataset %s: %s: %v", s.where, obj.Key, err)
			}
			for _, f := range files {
				young[f] = true
			}
			continue
		}
		ours := strings.HasPrefix(obj.Key, name+"/data/") && strings.HasSuffix(obj.Key, ".parquet") ||
			strings.HasPrefix(obj.Key, name+"/metadata/") && strings.HasSuffix(obj.Key, ".avro")
		if ours && !live[obj.Key] && obj.ModTime.Before(cutoff) {
			candidates = append(candidates, obj)
		}
	}
	for _, obj := range candidates {
		if !young[obj.Key] {
			stale = append(stale, obj.Key)
		}
	}
	if err := s.remove(ctx, stale...); err != nil {
		return err
	}
	return s.remove(ctx, lists...)
}
