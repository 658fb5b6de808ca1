package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// TicketFeed hands the run's tickets to emit, a batch at a time, each id
// once (the export's Render has this shape).
type TicketFeed func(ctx context.Context, emit func([]udesk.Ticket) error) error

// LookupFunc fetches tickets by id (GET /tickets/:id): the ones that exist
// are returned in found, the ones the API confirms gone (1003) in deleted.
// An id in neither fails the run: a delete is never guessed.
type LookupFunc func(ctx context.Context, ids []int64) (found []udesk.Ticket, deleted []int64, err error)

// Schema policies (Options.Schema).
const (
	SchemaEvolve = "evolve" // new fields add columns (default)
	SchemaFreeze = "freeze" // any drift fails the run, nothing committed
)

// Options of a commit.
type Options struct {
	Started  time.Time     // the run's start: RUN is its UTC form
	Catalog  []udesk.Field // the field catalog the tickets were read with
	Headers  string        // how new columns are named: mapping.HeadersLabels ("" too) or HeadersNames
	Schema   string        // SchemaEvolve ("" too) or SchemaFreeze
	Keep     int           // keep the last Keep runs' snapshots; 0 keeps all
	Selector string        // what was listed, for _runs.jsonl ("all", "filter 12")
	// Merge makes the tickets the changed ones only: the previous
	// snapshot's tickets they do not hand over are carried into this run as
	// they were, and nothing is looked up or deleted.
	Merge bool
	// Requests, when set, gives the run's API requests at publication.
	Requests func() int64
	// TempDir holds the staged files (the job's state folder); "" is the
	// system's temp folder.
	TempDir string
	// Now gives the finish time; nil is time.Now.
	Now func() time.Time
}

// Result is what a commit published.
type Result struct {
	Run   Run     // the run's line in _runs.jsonl, counts included
	Drift []Drift // drift between the stored contract and the catalog (applied under evolve)
}

// Commit compares the run's tickets (tickets, then the previous snapshot's
// tickets that the listing missed, through lookup) with the latest published
// snapshot, and commits one run: snapshot, changes and field history, the
// contract, then the run's line. On error nothing is published.
func Commit(ctx context.Context, s *Store, tickets TicketFeed, lookup LookupFunc, opts Options) (*Result, error) {
	run := RunID(opts.Started)
	if opts.Schema != "" && opts.Schema != SchemaEvolve && opts.Schema != SchemaFreeze {
		return nil, fmt.Errorf("dataset: schema policy %q: want %s or %s", opts.Schema, SchemaEvolve, SchemaFreeze)
	}
	if opts.Keep < 0 {
		return nil, fmt.Errorf("dataset: keep %d: want 0 (all) or more", opts.Keep)
	}
	runs, err := s.Repair(ctx)
	if err != nil {
		return nil, err
	}
	var latest string
	if len(runs) > 0 {
		if latest = runs[len(runs)-1].Run; latest >= run {
			return nil, fmt.Errorf("dataset %s: run %s does not start after the latest published run %s", s.where, run, latest)
		}
	}
	stored, err := s.loadContract(ctx)
	if err != nil {
		return nil, err
	}
	if stored == nil && latest != "" {
		return nil, fmt.Errorf("dataset %s: %s is missing but runs are published", s.where, schemaKey)
	}
	cat := mapping.NewCatalog(opts.Catalog)
	exp := mapping.NewExporter(cat, mapping.ExportOptions{Headers: opts.Headers})
	contract, drift := reconcile(stored, exp.Schema(), cat, run)
	if opts.Schema == SchemaFreeze && len(drift) > 0 {
		return nil, &DriftError{Drift: drift}
	}
	if err := s.cleanUnpublished(ctx, runs); err != nil {
		return nil, err
	}

	tmp, err := os.MkdirTemp(opts.TempDir, "dataset-"+run+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	d, err := newDiffer(tmp, contract, optionRelabels(stored, contract), run, map[string]string{mapping.MetaCatalog: exp.Schema().Meta[mapping.MetaCatalog]})
	if err != nil {
		return nil, err
	}
	defer d.abort()
	if latest != "" {
		prev := filepath.Join(tmp, "previous.parquet")
		if err := s.download(ctx, partKey(TableTickets, latest), prev); err != nil {
			return nil, err
		}
		if err := d.loadPrevious(ctx, prev); err != nil {
			return nil, err
		}
	}
	proj := newProjector(exp.Schema(), contract, run)
	add := func(ts []udesk.Ticket, recovered bool) error {
		for i := range ts {
			if err := d.add(ctx, proj.project(exp.Row(&ts[i])), recovered); err != nil {
				return err
			}
		}
		return nil
	}
	if err := tickets(ctx, func(ts []udesk.Ticket) error { return add(ts, false) }); err != nil {
		return nil, err
	}
	if opts.Merge {
		if err := d.carry(ctx); err != nil {
			return nil, err
		}
	} else if missing := d.missing(); len(missing) > 0 {
		if lookup == nil {
			return nil, fmt.Errorf("dataset: %d tickets of the previous run were not listed and cannot be looked up", len(missing))
		}
		found, deleted, err := lookup(ctx, missing)
		if err != nil {
			return nil, err
		}
		if err := add(found, true); err != nil {
			return nil, err
		}
		if err := d.confirmDeleted(missing, deleted); err != nil {
			return nil, err
		}
	}
	files, err := d.finish(ctx)
	if err != nil {
		return nil, err
	}
	for table, path := range files {
		if err := s.upload(ctx, partKey(table, run), path); err != nil {
			return nil, err
		}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	r := Run{
		Run: run, Started: opts.Started.UTC(), Finished: now().UTC(), Selector: opts.Selector,
		Counts: d.counts, CatalogHash: catalogHash(exp.Schema()),
	}
	for _, dr := range drift {
		r.Drift = append(r.Drift, dr.String())
	}
	if opts.Requests != nil {
		r.Requests = opts.Requests()
	}
	if err := s.publish(ctx, runs, r, contract); err != nil {
		return nil, err
	}
	if err := s.retain(ctx, append(runs, r), opts.Keep); err != nil {
		return nil, &PublishedError{Run: run, Err: fmt.Errorf("removing old snapshots (--keep): %w", err)}
	}
	return &Result{Run: r, Drift: drift}, nil
}

// catalogHash identifies the field catalog the run was read with.
func catalogHash(export pipeline.Schema) string {
	sum := sha256.Sum256([]byte(export.Meta[mapping.MetaCatalog]))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// MissingIDs returns the ids of the latest published snapshot that tickets
// does not hand over, in order: the tickets the job must look up by id. It
// reads only the snapshot's id column; tmpDir stages it ("" is the system's).
func MissingIDs(ctx context.Context, s *Store, tmpDir string, tickets TicketFeed) ([]int64, error) {
	runs, err := s.Published(ctx)
	if err != nil || len(runs) == 0 {
		return nil, err
	}
	c, err := s.loadContract(ctx)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("dataset %s: %s is missing but runs are published", s.where, schemaKey)
	}
	tmp, err := os.MkdirTemp(tmpDir, "dataset-ids-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	prev := filepath.Join(tmp, "previous.parquet")
	if err := s.download(ctx, partKey(TableTickets, runs[len(runs)-1].Run), prev); err != nil {
		return nil, err
	}
	var ids []int64
	if err := readSnapshot(ctx, prev, c, true, func(r *snapshotRow) error {
		ids = append(ids, r.id)
		return nil
	}); err != nil {
		return nil, err
	}
	slices.Sort(ids)
	seen := make([]bool, len(ids))
	err = tickets(ctx, func(ts []udesk.Ticket) error {
		for _, t := range ts {
			if i, ok := slices.BinarySearch(ids, t.ID); ok {
				seen[i] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var missing []int64
	for i, id := range ids {
		if !seen[i] {
			missing = append(missing, id)
		}
	}
	return missing, nil
}
