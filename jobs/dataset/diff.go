package dataset

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"path/filepath"
	"slices"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
)

// How the diff keeps memory small (1M tickets must not need GBs): the
// previous snapshot is read once into a map from id to a 64-bit hash of the
// ticket's values (≈40 bytes a ticket). Each new ticket is hashed the same
// way: an equal hash is an unchanged ticket, settled without keeping
// anything. A changed ticket's new row waits in pending; when pendingLimit
// rows wait (and once at the end) the previous snapshot is streamed again
// and each waiting row is compared column by column with its old row, which
// gives the changed columns and the field history. So memory is the hash map
// plus at most pendingLimit rows, and a run that changes everything streams
// the old file once per pendingLimit changes. A sort-merge by id would need
// the new listing sorted, i.e. an external sort of the whole snapshot, for
// every run, where this costs one extra pass only for runs with changes.
var pendingLimit = 20_000

// Op values of the changes table.
const (
	OpInsert = "insert"
	OpUpdate = "update"
	OpDelete = "delete"
)

// changesSchema: an update lists the snapshot columns whose value changed
// (updated_at among them); inserts and deletes have no list. A delete's
// updated_at is the ticket's last one seen.
var changesSchema = pipeline.Schema{Columns: []pipeline.Column{
	{Name: "op", Field: "op", Kind: pipeline.String},
	{Name: "id", Field: "id", Kind: pipeline.Int64},
	{Name: "updated_at", Field: "updated_at", Kind: pipeline.Timestamp},
	{Name: "changed", Field: "changed", Kind: pipeline.StringList},
	{Name: runColumn, Field: runColumn, Kind: pipeline.String},
}}

// historySchema: one row per changed value of an updated ticket, old and
// new as text (valueText), null for no value.
var historySchema = pipeline.Schema{Columns: []pipeline.Column{
	{Name: "id", Field: "id", Kind: pipeline.Int64},
	{Name: "column", Field: "column", Kind: pipeline.String},
	{Name: "old", Field: "old", Kind: pipeline.String},
	{Name: "new", Field: "new", Kind: pipeline.String},
	{Name: "updated_at", Field: "updated_at", Kind: pipeline.Timestamp},
	{Name: runColumn, Field: runColumn, Kind: pipeline.String},
}}

type prevTicket struct {
	hash       uint64
	seen       bool // handed over by this run
	relabelled bool // its row holds a select option renamed since: rewritten, not an update
}

// differ writes a run's three tables while it compares the run's tickets
// with the previous snapshot.
type differ struct {
	c             *Contract
	kinds         []pipeline.Kind // per contract column
	active        []int           // the contract columns compared: not removed
	idCol, updCol int
	run           string
	seed          maphash.Seed
	buf, buf2     []byte

	prevTable  *table.Table              // the tickets table, nil before the first run
	prevSnap   *table.Snapshot           // its snapshot this run compares with
	prevFilter iceberg.BooleanExpression // the rows of it read (nil: all)
	relabel    map[int]map[string]string // optionRelabels, applied to old rows
	prev       map[int64]prevTicket
	// old holds the previous rows read by a merge run of at most
	// pendingLimit tickets, so that settling its updates does not read
	// their files again (nil: they are read again).
	old       map[int64]*snapshotRow
	fresh     []int64 // ids inserted by this run, checked for repeats at the end (a map of a 1M first run costs 40 MB)
	pending   map[int64]pipeline.Row
	deleted   map[int64]bool // confirmed deletes not yet written
	replaced  []int64        // ids whose previous row this run replaces or deletes
	prevTotal int64          // the previous snapshot's rows (-1: all of them are in prev)

	tables map[string]*tableWriter
	counts Counts
}

func newDiffer(tmp string, c *Contract, relabel map[int]map[string]string, run string, meta map[string]string) (*differ, error) {
	d := &differ{
		c: c, relabel: relabel, run: run, seed: maphash.MakeSeed(),
		idCol: c.index("id"), updCol: c.index("updated_at"),
		prevTotal: -1,
		prev:      map[int64]prevTicket{}, pending: map[int64]pipeline.Row{},
		tables: map[string]*tableWriter{},
	}
	if d.idCol < 0 || d.updCol < 0 {
		return nil, fmt.Errorf("dataset: contract without id or updated_at column")
	}
	for j, col := range c.Columns {
		k, _ := kindOf(col.Type)
		d.kinds = append(d.kinds, k)
		if col.Removed == "" {
			d.active = append(d.active, j)
		}
	}
	snap := c.schema()
	snap.Meta = meta
	for table, schema := range map[string]pipeline.Schema{TableTickets: snap, TableChanges: changesSchema, TableHistory: historySchema} {
		w, err := newTableWriter(filepath.Join(tmp, table+".parquet"), schema)
		if err != nil {
			d.abort()
			return nil, err
		}
		d.tables[table] = w
	}
	return d, nil
}

// hash is a row's hash over the compared columns.
func (d *differ) hash(values []any, raw map[int]string) uint64 {
	d.buf = d.buf[:0]
	for _, j := range d.active {
		d.buf = appendCanon(d.buf, d.kinds[j], values[j], raw, j)
	}
	return maphash.Bytes(d.seed, d.buf)
}

// loadPrevious reads the previous snapshot's hashes: of every ticket, or
// only of the ids given (a merge run, which compares only what it lists).
func (d *differ) loadPrevious(ctx context.Context, t *table.Table, snap *table.Snapshot, only []int64) error {
	d.prevTable, d.prevSnap = t, snap
	if only != nil {
		d.prevFilter = idsFilter(only)
		if len(only) <= pendingLimit {
			d.old = map[int64]*snapshotRow{}
		}
	}
	return d.readPrevious(ctx, func(r *snapshotRow) error {
		d.prev[r.id] = prevTicket{hash: d.hash(r.values, r.raw), relabelled: r.relabelled}
		if d.old != nil {
			d.old[r.id] = r
		}
		return nil
	})
}

// readPrevious streams the previous snapshot, its select values under
// their current labels.
func (d *differ) readPrevious(ctx context.Context, fn func(*snapshotRow) error) error {
	return readSnapshot(ctx, d.prevTable, d.prevSnap, d.c, d.prevFilter, func(r *snapshotRow) error {
		for j, m := range d.relabel {
			switch v := r.values[j].(type) {
			case string:
				if l, ok := m[v]; ok {
					r.values[j] = l
					r.relabelled = true
				}
			case []string:
				for i, s := range v {
					if l, ok := m[s]; ok {
						v[i] = l
						r.relabelled = true
					}
				}
			}
		}
		return fn(r)
	})
}

// add takes one ticket of the run (a snapshot row). Only the rows of new
// and changed tickets are written: the tickets table is rewritten
// copy-on-write, its other rows stay in their files.
func (d *differ) add(ctx context.Context, row pipeline.Row, recovered bool) error {
	id, _ := row.Values[d.idCol].(int64)
	if recovered {
		d.counts.Recovered++
	}
	p, ok := d.prev[id]
	if !ok {
		d.fresh = append(d.fresh, id)
		d.counts.Inserted++
		if err := d.tables[TableTickets].write(row); err != nil {
			return err
		}
		return d.change(OpInsert, id, row.Values[d.updCol], nil)
	}
	if p.seen {
		return fmt.Errorf("dataset: ticket %d handed over twice", id)
	}
	p.seen = true
	d.prev[id] = p
	if d.hash(row.Values, row.Raw) == p.hash {
		d.counts.Unchanged++
		if p.relabelled {
			d.replaced = append(d.replaced, id)
			return d.tables[TableTickets].write(row)
		}
		return nil
	}
	d.pending[id] = row
	if len(d.pending) >= pendingLimit {
		return d.flush(ctx)
	}
	return nil
}

func (d *differ) change(op string, id int64, updated any, changed []string) error {
	var list any
	if changed != nil {
		list = changed
	}
	return d.tables[TableChanges].write(pipeline.Row{Values: []any{op, id, updated, list, d.run}})
}

// missing returns the previous snapshot's ids not handed over yet, in order.
func (d *differ) missing() []int64 {
	var ids []int64
	for id, p := range d.prev {
		if !p.seen {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// confirmDeleted records the lookup's verdict on the missing ids: each must
// have been found (and added) or be confirmed deleted.
func (d *differ) confirmDeleted(missing, deleted []int64) error {
	gone := map[int64]bool{}
	for _, id := range deleted {
		gone[id] = true
	}
	for _, id := range missing {
		switch {
		case gone[id] && d.prev[id].seen:
			return fmt.Errorf("dataset: ticket %d was both found and confirmed deleted", id)
		case gone[id]:
			delete(gone, id)
			if d.deleted == nil {
				d.deleted = map[int64]bool{}
			}
			d.deleted[id] = true
			d.replaced = append(d.replaced, id)
			d.counts.Deleted++
		case !d.prev[id].seen:
			return fmt.Errorf("dataset: ticket %d was not listed, and its lookup neither found it nor confirmed it deleted", id)
		}
	}
	for id := range gone {
		return fmt.Errorf("dataset: ticket %d confirmed deleted, but it was not missing", id)
	}
	return nil
}

// flush streams the previous snapshot to settle the pending updates and the
// confirmed deletes (whose old updated_at their change row carries).
func (d *differ) flush(ctx context.Context) error {
	if len(d.pending) == 0 && len(d.deleted) == 0 {
		return nil
	}
	read := d.readPrevious
	if d.old != nil {
		read = d.readHeld
	}
	err := read(ctx, func(old *snapshotRow) error {
		if d.deleted[old.id] {
			delete(d.deleted, old.id)
			return d.change(OpDelete, old.id, old.values[d.updCol], nil)
		}
		row, ok := d.pending[old.id]
		if !ok {
			return nil
		}
		delete(d.pending, old.id)
		return d.compare(old, row)
	})
	if err != nil {
		return err
	}
	if len(d.pending)+len(d.deleted) > 0 {
		return fmt.Errorf("dataset: the previous snapshot of %s changed while it was read", TableTickets)
	}
	return nil
}

// readHeld hands over the held previous rows of the pending and deleted
// ids, in id order: readPrevious without reading the files again.
func (d *differ) readHeld(_ context.Context, fn func(*snapshotRow) error) error {
	ids := make([]int64, 0, len(d.pending)+len(d.deleted))
	for id := range d.pending {
		ids = append(ids, id)
	}
	for id := range d.deleted {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if r, ok := d.old[id]; ok {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// compare writes an updated ticket's change row and one history row per
// changed column. Its hash differed, so some column did.
func (d *differ) compare(old *snapshotRow, row pipeline.Row) error {
	var changed []string
	updated := row.Values[d.updCol]
	for _, j := range d.active {
		d.buf = appendCanon(d.buf[:0], d.kinds[j], old.values[j], old.raw, j)
		d.buf2 = appendCanon(d.buf2[:0], d.kinds[j], row.Values[j], row.Raw, j)
		if bytes.Equal(d.buf, d.buf2) {
			continue
		}
		name := d.c.Columns[j].Name
		changed = append(changed, name)
		h := pipeline.Row{Values: []any{
			old.id, name,
			textOrNil(cellText(d.kinds[j], old.values[j], old.raw, j)),
			textOrNil(cellText(d.kinds[j], row.Values[j], row.Raw, j)),
			updated, d.run,
		}}
		if err := d.tables[TableHistory].write(h); err != nil {
			return err
		}
	}
	d.counts.Updated++
	d.replaced = append(d.replaced, old.id)
	if err := d.tables[TableTickets].write(row); err != nil {
		return err
	}
	return d.change(OpUpdate, old.id, updated, changed)
}

func textOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// finish settles what is pending and closes the three files: table -> path.
func (d *differ) finish(ctx context.Context) (map[string]string, error) {
	if err := d.flush(ctx); err != nil {
		return nil, err
	}
	slices.Sort(d.fresh)
	for i := 1; i < len(d.fresh); i++ {
		if d.fresh[i] == d.fresh[i-1] {
			return nil, fmt.Errorf("dataset: ticket %d handed over twice", d.fresh[i])
		}
	}
	if d.prevTotal < 0 {
		d.prevTotal = int64(len(d.prev))
	}
	d.counts.Tickets = d.prevTotal + d.counts.Inserted - d.counts.Deleted
	files := map[string]string{}
	for table, w := range d.tables {
		if err := w.commit(); err != nil {
			return nil, err
		}
		files[table] = w.path
	}
	return files, nil
}

func (d *differ) abort() {
	for _, w := range d.tables {
		w.abort()
	}
}

// tableWriter batches rows for a Parquet writer.
type tableWriter struct {
	path string
	w    pipeline.RowWriter
	rows []pipeline.Row
	n    int64 // rows written
	done bool
}

const tableBatch = 1024

func newTableWriter(path string, schema pipeline.Schema) (*tableWriter, error) {
	w, err := sinks.NewParquetWriter(path, schema)
	if err != nil {
		return nil, err
	}
	return &tableWriter{path: path, w: w}, nil
}

func (t *tableWriter) write(r pipeline.Row) error {
	t.n++
	t.rows = append(t.rows, r)
	if len(t.rows) < tableBatch {
		return nil
	}
	err := t.w.WriteRows(t.rows)
	t.rows = t.rows[:0]
	return err
}

func (t *tableWriter) commit() error {
	t.done = true
	if err := t.w.WriteRows(t.rows); err != nil {
		_ = t.w.Abort()
		return err
	}
	return t.w.Commit()
}

func (t *tableWriter) abort() {
	if !t.done {
		_ = t.w.Abort()
	}
}
