package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

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

// Owner is whose a dataset is: the tenant (as pipeline.TenantKey spells its
// URL) and the selector of its full runs ("all", "filter 12").
type Owner struct {
	Tenant   string
	Selector string
}

// OwnerError refuses a sync of another tenant or selector into a dataset.
type OwnerError struct {
	Dataset     string
	Have, Given Owner
}

func (e *OwnerError) Error() string {
	return fmt.Sprintf("dataset %s holds the tickets of %s (%s); this sync is of %s (%s): use another dataset for it",
		e.Dataset, e.Have.Tenant, e.Have.Selector, e.Given.Tenant, e.Given.Selector)
}

// ClockError refuses a run whose start lies after the time of its commit:
// the clock was ahead when it started.
type ClockError struct {
	Run string
	Now time.Time
}

func (e *ClockError) Error() string {
	return fmt.Sprintf("run %s starts after the time now (%s): the clock was ahead when it started; nothing was committed: run again with --fresh to start a new run",
		e.Run, e.Now.Format(time.RFC3339))
}

// Options of a commit.
type Options struct {
	Started  time.Time     // the run's start: RUN is its UTC form
	UUID     string        // tells this run from another started in the same second ("": none)
	Catalog  []udesk.Field // the field catalog the tickets were read with
	Headers  string        // how new columns are named: mapping.HeadersLabels ("" too) or HeadersNames
	Schema   string        // SchemaEvolve ("" too) or SchemaFreeze
	Keep     int           // keep the last Keep runs' tickets snapshots; 0 keeps all
	Grace    time.Duration // how long files --keep unreferences stay (0: DefaultGrace)
	Selector string        // what this run listed ("all", "changed filter 12 into all")
	Owner    Owner         // whose the dataset is; empty fields are not checked
	// Merge makes the tickets the changed ones only: the previous
	// snapshot's tickets they do not hand over stay as they were, and
	// nothing is looked up or deleted.
	Merge bool
	// Requests, when set, gives the run's API requests at publication.
	Requests func() int64
	// TempDir holds the staged files (the job's state folder); "" is the
	// system's temp folder.
	TempDir string
	// Now gives the finish time; nil is time.Now.
	Now func() time.Time
	// Pause, when set, is called at each of PausePoints (a test's hook).
	Pause func(point string)
	// Guard, when set, is called before the run's first write and right
	// before each table's metadata is created; its error stops the commit
	// (a sync's lease check: a run that lost its lease commits nothing).
	Guard func() error
}

// PausePoints are the moments of a commit Options.Pause is called at:
// the run's data files written (before any metadata), each table's
// commit done, and the tickets table's metadata file created before its
// version-hint.text.
var PausePoints = []string{"data-written", "committed:" + TableChanges, "committed:" + TableHistory, "metadata-created:" + TableTickets,
	"upgraded:" + TableChanges, "upgraded:" + TableHistory}

// at calls the commit's pause hook, if any, at point.
func (s *Store) at(point string) {
	if s.pause != nil {
		s.pause(point)
	}
}

// Result is what a commit published.
type Result struct {
	Run   Run      // the run, counts included
	Drift []Drift  // drift between the stored contract and the catalog (applied under evolve)
	Notes []string // what the user should know (renamed columns, completed or discarded runs)
	// Already is set when the run had been published before this call (a
	// run whose commit was interrupted after its tickets snapshot).
	Already bool
}

// Table properties of the tickets table.
const (
	propContract = "udesk.contract" // the Contract, JSON
	propTenant   = "udesk.tenant"
	propOwnerSel = "udesk.selector"
)

// writeProps are the tables' write properties: data files of about 2 MiB
// (25k tickets), so that a run whose changes fall in a few of them rewrites
// only those (changes among the newest 5% of 1M tickets rewrite about 7% of
// the table with 2 MiB files, 10% with 4 MiB), in
// row groups of 16Ki rows, so that writing and reading one holds little in
// memory (iceberg-go's default, a million rows, holds a whole first run).
var writeProps = iceberg.Properties{
	table.WriteTargetFileSizeBytesKey: fmt.Sprint(2 << 20),
	table.ParquetRowGroupLimitKey:     fmt.Sprint(16 << 10),
	table.ParquetRowGroupSizeBytesKey: fmt.Sprint(16 << 20),
	// snappy, as the export writes: zstd's encoder windows cost tens of
	// MiB, and every engine reads both.
	table.ParquetCompressionKey: "snappy",
}

// Commit compares the run's tickets (tickets, then the previous snapshot's
// tickets that the listing missed, through lookup) with the latest published
// snapshot, and commits the run to changes, field_history (when it has
// rows), then tickets, the commit that publishes it. A table that already
// has the run's snapshot (an interrupted commit of this same run) is not
// committed again; rows of runs that were never published are removed. On
// error before the tickets commit, the run is not published.
func Commit(ctx context.Context, s *Store, tickets TicketFeed, lookup LookupFunc, opts Options) (*Result, error) {
	run := RunID(opts.Started)
	if opts.Schema != "" && opts.Schema != SchemaEvolve && opts.Schema != SchemaFreeze {
		return nil, fmt.Errorf("dataset: schema policy %q: want %s or %s", opts.Schema, SchemaEvolve, SchemaFreeze)
	}
	if opts.Keep < 0 {
		return nil, fmt.Errorf("dataset: keep %d: want 0 (all) or more", opts.Keep)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	s.pause, s.guard = opts.Pause, opts.Guard
	defer func() { s.pause, s.guard = nil, nil }()
	if opts.Guard != nil {
		if err := opts.Guard(); err != nil {
			return nil, err
		}
	}
	if err := s.RepairHints(ctx); err != nil {
		return nil, err
	}
	upgraded, err := s.Upgrade(ctx, opts.TempDir, opts.Owner)
	if err != nil {
		return nil, err
	}
	st, err := s.tables(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkOwner(st, opts.Owner); err != nil {
		return nil, err
	}
	for _, r := range runsIn(st.tickets) {
		if r.Is(run, opts.UUID) {
			return &Result{Run: r, Already: true}, nil
		}
		if r.Run == run {
			return nil, &ConflictError{Table: TableTickets, Err: fmt.Errorf("another sync that started in the same second committed run %s", run)}
		}
	}
	// A sync that started in the same second may have committed changes or
	// field_history but not yet tickets: its rows carry this run's name, so
	// this run must not add its own beside them (nor take them for its own).
	for _, t := range []*table.Table{st.changes, st.history} {
		gone := discarded(t)
		for _, r := range runsIn(t) {
			if r.Run == run && !r.Is(run, opts.UUID) && !gone[run] {
				return nil, &ConflictError{Table: t.Identifier()[0], Err: fmt.Errorf("another sync that started in the same second is committing run %s", run)}
			}
		}
	}
	if at := now().UTC(); opts.Started.After(at) {
		return nil, &ClockError{Run: run, Now: at}
	}
	latest := st.latest()
	stored, err := s.contractOf(st.tickets)
	if err != nil {
		return nil, err
	}
	if stored == nil && latest != nil {
		return nil, fmt.Errorf("dataset %s: table %s has runs but no %s property", s.where, TableTickets, propContract)
	}
	cat := mapping.NewCatalog(opts.Catalog)
	exp := mapping.NewExporter(cat, mapping.ExportOptions{Headers: opts.Headers})
	contract, drift, renamed := reconcile(stored, exp.Schema(), cat, run)
	if opts.Schema == SchemaFreeze && len(drift) > 0 {
		return nil, &DriftError{Drift: drift}
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
	var listed []udesk.Ticket // a merge run's tickets, held to read only their previous rows
	if opts.Merge && latest != nil {
		if err := tickets(ctx, func(ts []udesk.Ticket) error { listed = append(listed, ts...); return nil }); err != nil {
			return nil, err
		}
		ids := make([]int64, len(listed))
		for i := range listed {
			ids[i] = listed[i].ID
		}
		tickets = func(ctx context.Context, emit func([]udesk.Ticket) error) error { return emit(listed) }
		if err := d.loadPrevious(ctx, st.tickets, st.tickets.CurrentSnapshot(), ids); err != nil {
			return nil, err
		}
	} else if latest != nil {
		if err := d.loadPrevious(ctx, st.tickets, st.tickets.CurrentSnapshot(), nil); err != nil {
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
	if opts.Merge && latest != nil {
		// Only the listed tickets' previous rows were read: the others are
		// unchanged, as many as the previous snapshot's rows not listed.
		d.prevTotal = latest.Counts.Tickets
		if n, err := strconv.ParseInt(st.tickets.CurrentSnapshot().Summary.Properties["total-records"], 10, 64); err == nil {
			d.prevTotal = n
		}
		d.counts.Unchanged += d.prevTotal - int64(len(d.prev))
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
	pause := s.at
	pause("data-written")
	r := Run{
		Run: run, Started: opts.Started.UTC(), Selector: opts.Selector, UUID: opts.UUID,
		Counts: d.counts, CatalogHash: catalogHash(exp.Schema()),
	}
	for _, dr := range drift {
		r.Drift = append(r.Drift, dr.String())
	}
	res := &Result{Drift: drift, Notes: renamed}
	if upgraded != "" {
		res.Notes = append([]string{upgraded}, res.Notes...)
	}
	orphans := st.unpublished(run)
	if len(orphans) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("removed the rows of run %s from %s and %s: it was killed before its %s snapshot and is not published", strings.Join(orphans, ", "), TableChanges, TableHistory, TableTickets))
	}
	stamp := func() iceberg.Properties {
		if opts.Requests != nil {
			r.Requests = opts.Requests()
		}
		r.Finished = now().UTC()
		return r.summary()
	}

	// changes, then field_history, then tickets: the run is published by
	// its tickets snapshot, and a rerun of it skips the tables it reached.
	if !hasRun(st.changes, run, opts.UUID) {
		t, err := s.ensure(ctx, st.changes, TableChanges, icebergSchema(changesSchema, false), writeProps)
		if err != nil {
			return nil, err
		}
		if err := s.appendRun(ctx, t, files[TableChanges], stamp(), orphans); err != nil {
			return nil, err
		}
		pause("committed:" + TableChanges)
	}
	if !hasRun(st.history, run, opts.UUID) && (d.tables[TableHistory].n > 0 || (st.history != nil && len(orphans) > 0)) {
		t, err := s.ensure(ctx, st.history, TableHistory, icebergSchema(historySchema, false), writeProps)
		if err != nil {
			return nil, err
		}
		if err := s.appendRun(ctx, t, files[TableHistory], stamp(), orphans); err != nil {
			return nil, err
		}
		pause("committed:" + TableHistory)
	}
	cj, err := json.Marshal(contract)
	if err != nil {
		return nil, err
	}
	props := iceberg.Properties{propContract: string(cj)}
	if opts.Owner.Tenant != "" {
		props[propTenant] = opts.Owner.Tenant
	}
	if opts.Owner.Selector != "" {
		props[propOwnerSel] = opts.Owner.Selector
	}
	tt, err := s.ensure(ctx, st.tickets, TableTickets, icebergSchema(contract.schema(), true), writeProps)
	if err != nil {
		return nil, err
	}
	if err := s.commitTickets(ctx, tt, contract, props, files[TableTickets], d.replaced, stamp()); err != nil {
		return nil, err
	}
	res.Run = r
	if err := s.retain(ctx, opts.Keep, opts.Grace, now()); err != nil {
		return res, &PublishedError{Run: run, Err: fmt.Errorf("removing old snapshots (--keep): %w", err)}
	}
	return res, nil
}

// RepairHints points each table's version-hint.text at its newest
// version, which a writer killed between the two left behind.
func (s *Store) RepairHints(ctx context.Context) error {
	for _, name := range []string{TableChanges, TableHistory, TableTickets} {
		if err := s.catalog(name).repairHint(ctx); err != nil {
			return err
		}
	}
	return nil
}

// ensure returns t, or the table name made with schema when t is nil.
func (s *Store) ensure(ctx context.Context, t *table.Table, name string, schema *iceberg.Schema, props iceberg.Properties) (*table.Table, error) {
	if t != nil {
		return t, nil
	}
	return s.catalog(name).create(ctx, schema, props)
}

// appendRun commits a run's rows of changes or field_history as one
// snapshot, removing the rows of the discarded runs in the same snapshot.
func (s *Store) appendRun(ctx context.Context, t *table.Table, staged string, summary iceberg.Properties, discard []string) error {
	rdr, err := openStaged(ctx, staged, false)
	if err != nil {
		return err
	}
	defer rdr.Release()
	txn := t.NewTransaction()
	if err := txn.AssertRefSnapshotID(table.MainBranch); err != nil {
		return err
	}
	if len(discard) > 0 {
		summary[propDiscarded] = strings.Join(discard, " ")
		err = txn.Overwrite(ctx, rdr, summary, table.WithOverwriteFilter(iceberg.IsIn(iceberg.Reference(runColumn), discard...)))
	} else {
		err = txn.Append(ctx, rdr, summary)
	}
	if err == nil {
		_, err = txn.Commit(ctx)
	}
	if err != nil {
		return s.commitFailed(t.Identifier()[0], err)
	}
	return nil
}

// commitFailed is the error of a table's failed commit. A run that lost
// its lease meanwhile says so first: iceberg-go may find the table moved by
// the run that took the lease over before our catalog's guard is asked.
func (s *Store) commitFailed(table string, err error) error {
	if gerr := s.guarded(); gerr != nil {
		return fmt.Errorf("dataset %s: commit to %s: %w (%v)", s.where, table, gerr, err)
	}
	return fmt.Errorf("dataset %s: commit to %s: %w", s.where, table, err)
}

// commitTickets commits the run's tickets snapshot: columns added for new
// fields, the contract, the rows of the replaced (updated and deleted)
// tickets removed from their files (copy-on-write: only the files holding
// them are rewritten) and the new rows added.
func (s *Store) commitTickets(ctx context.Context, t *table.Table, c *Contract, props iceberg.Properties, staged string, replaced []int64, summary iceberg.Properties) error {
	txn := t.NewTransaction()
	// The run compared with the snapshot it read: another run's commit
	// since must fail this one (*ConflictError), not be built upon.
	if err := txn.AssertRefSnapshotID(table.MainBranch); err != nil {
		return err
	}
	have := map[string]bool{}
	for _, f := range t.Schema().Fields() {
		have[f.Name] = true
	}
	var add *table.UpdateSchema
	for _, col := range c.schema().Columns {
		if have[col.Name] {
			continue
		}
		if add == nil {
			add = txn.UpdateSchema(true, false)
		}
		add.AddColumn([]string{col.Name}, icebergType(col.Kind), "", false, nil)
	}
	fail := func(err error) error { return s.commitFailed(TableTickets, err) }
	if add != nil {
		if err := add.Commit(); err != nil {
			return fail(err)
		}
	}
	if err := txn.SetProperties(props); err != nil {
		return fail(err)
	}
	rdr, err := openStaged(ctx, staged, true)
	if err != nil {
		return err
	}
	defer rdr.Release()
	if err := txn.Overwrite(ctx, rdr, summary, table.WithOverwriteFilter(idsFilter(replaced))); err != nil {
		return fail(err)
	}
	if _, err := txn.Commit(ctx); err != nil {
		return fail(err)
	}
	return nil
}

// idsInChunk is the most ids one IN of idsFilter holds: iceberg-go checks
// an IN against a file's id range only up to 200 values, and above that
// reads (and an overwrite rewrites) every file.
const idsInChunk = 200

// idsFilter selects the rows of the given ids (none: no row) so that a scan
// or an overwrite touches only the files whose id ranges hold one of them:
// the sorted ids in INs of at most idsInChunk values, or'ed.
func idsFilter(ids []int64) iceberg.BooleanExpression {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	var filter iceberg.BooleanExpression = iceberg.AlwaysFalse{}
	for chunk := range slices.Chunk(ids, idsInChunk) {
		filter = iceberg.NewOr(filter, iceberg.IsIn(iceberg.Reference("id"), chunk...))
	}
	return filter
}

// contractOf reads the contract a tickets table records; nil for none.
func (s *Store) contractOf(t *table.Table) (*Contract, error) {
	if t == nil {
		return nil, nil
	}
	data := t.Properties()[propContract]
	if data == "" {
		return nil, nil
	}
	var c Contract
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return nil, fmt.Errorf("dataset %s: table %s: property %s: %v", s.where, TableTickets, propContract, err)
	}
	for i, col := range c.Columns {
		if _, ok := kindOf(col.Type); !ok || col.Field == "" || col.Name == "" {
			return nil, fmt.Errorf("dataset %s: table %s: property %s: column %d: want field, name and a known type", s.where, TableTickets, propContract, i+1)
		}
	}
	return &c, nil
}

// CheckOwner refuses (with *OwnerError, a *pipeline.ConfigError) a sync of
// another tenant or selector into the dataset.
func CheckOwner(ctx context.Context, s *Store, o Owner) error {
	t, err := s.catalog(TableTickets).load(ctx)
	if err != nil {
		return err
	}
	return s.checkOwner(&tableSet{tickets: t}, o)
}

func (s *Store) checkOwner(st *tableSet, o Owner) error {
	if st.tickets == nil {
		return nil
	}
	p := st.tickets.Properties()
	have := Owner{Tenant: p[propTenant], Selector: p[propOwnerSel]}
	if (o.Tenant != "" && have.Tenant != "" && have.Tenant != o.Tenant) ||
		(o.Selector != "" && have.Selector != "" && have.Selector != o.Selector) {
		return &pipeline.ConfigError{Err: &OwnerError{Dataset: s.where, Have: have, Given: o}}
	}
	return nil
}

// catalogHash identifies the field catalog the run was read with.
func catalogHash(export pipeline.Schema) string {
	sum := sha256.Sum256([]byte(export.Meta[mapping.MetaCatalog]))
	return "sha256:" + hex.EncodeToString(sum[:])
}
