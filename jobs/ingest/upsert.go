package ingest

// Upsert: each row of a create file is made true in Udesk, keyed by a text
// custom field holding the source system's id (Options.UpsertKey). The
// tenant's tickets are listed once into a key index; then a row whose key no
// ticket holds is created with the key set, a row whose key one ticket holds
// updates only the fields that differ (nothing is sent when none does), and a
// row whose key several tickets hold fails with duplicate_key. The key is
// also the marker of a create whose outcome is unknown: the sender settles it
// by the customer's tickets filtered by the key, and a resumed run settles the
// creates an interrupted run left in doubt by listing the tenant again.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// upsertRun builds each row's operation against the key index.
type upsertRun struct {
	u     *mapping.Upserter
	index *keyIndex

	mu        sync.Mutex
	first     map[string]int // key -> the first row that holds it
	changes   []mapping.Change
	creates   int64
	updates   int64
	unchanged int64
	// createOnly counts the rows whose create-only columns differ from
	// their ticket's (onlyCreateOnly: and nothing else does), in these columns.
	createOnly, onlyCreateOnly int64
	createOnlyCols             map[string]bool
}

func newUpsertRun(u *mapping.Upserter, idx *keyIndex) *upsertRun {
	return &upsertRun{u: u, index: idx, first: map[string]int{}, createOnlyCols: map[string]bool{}}
}

// saw notes a row's key, also for a row an earlier run settled: a later row
// with the same key is the repeat.
func (r *upsertRun) saw(rec pipeline.Record) {
	if k := r.u.Key(rec); k != "" {
		r.mu.Lock()
		if _, ok := r.first[k]; !ok {
			r.first[k] = rec.Pos.Row
		}
		r.mu.Unlock()
	}
}

// Operation is the row's create, its update of the differing fields, or
// mapping.ErrUnchanged; a row without a key, with a key an earlier row has,
// or with a key several tickets hold is a row error.
func (r *upsertRun) Operation(_ context.Context, rec pipeline.Record) (mapping.Operation, error) {
	key := r.u.Key(rec)
	if key == "" {
		return mapping.Operation{}, &pipeline.RowError{Pos: rec.Pos, Column: r.u.KeyColumn(),
			Err: errors.New("is empty: every row of an upsert needs its key")}
	}
	r.mu.Lock()
	first, seen := r.first[key]
	if !seen || first == rec.Pos.Row {
		r.first[key], seen = rec.Pos.Row, false
	}
	r.mu.Unlock()
	if seen {
		return mapping.Operation{}, &pipeline.RowError{Pos: rec.Pos, Column: r.u.KeyColumn(), Err: &mapping.EditError{Code: mapping.CodeDuplicate,
			Err: fmt.Errorf("key %q is also in row %d; keep one row per key (this row was not sent)", key, first)}}
	}
	tickets := r.index.ByKey[key]
	switch len(tickets) {
	case 0:
		op, err := r.u.Create(rec)
		if err == nil {
			r.count(&r.creates, nil)
		}
		return op, err
	case 1:
		op, changes, err := r.u.Update(rec, &tickets[0])
		if cols := r.u.CreateOnlyDiffers(rec, &tickets[0]); len(cols) > 0 {
			r.mu.Lock()
			r.createOnly++
			if errors.Is(err, mapping.ErrUnchanged) {
				r.onlyCreateOnly++
			}
			for _, c := range cols {
				r.createOnlyCols[c] = true
			}
			r.mu.Unlock()
		}
		switch {
		case errors.Is(err, mapping.ErrUnchanged):
			r.count(&r.unchanged, nil)
		case err == nil:
			r.count(&r.updates, changes)
		}
		return op, err
	}
	ids := make([]int64, len(tickets))
	for i, t := range tickets {
		ids[i] = t.ID
	}
	return mapping.Operation{}, &pipeline.RowError{Pos: rec.Pos, Column: r.u.KeyColumn(), Err: &mapping.EditError{Code: CodeDuplicateKey,
		Err: fmt.Errorf("key %q is held by %d tickets (%s): which one to update cannot be told; nothing was sent", key, len(tickets), idList(ids, 10))}}
}

func (r *upsertRun) changeList() []mapping.Change { return r.changes }

func (r *upsertRun) count(n *int64, changes []mapping.Change) {
	r.mu.Lock()
	*n++
	r.changes = append(r.changes, changes...)
	r.mu.Unlock()
}

// prepareUpsert readies a real run: the key index, rollback.csv, written
// before any update is sent, and the creates an interrupted run left in
// doubt. Every run lists the index anew: one an earlier process saved (a
// --limit pilot, an interrupted run) misses the keys created in Udesk since,
// each of which would get a second ticket. The saved one still tells which
// creates it left in doubt (their keys, which no ticket held then), and the
// index listed now settles them.
func (job *job) prepareUpsert(ctx context.Context) error {
	r := job.ups
	path := filepath.Join(job.dir, "keyindex.json")
	saved, err := loadKeyIndex(path, r.u.KeyField())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if r.index, err = listKeys(ctx, job.api, r.u.KeyField(), job.obs); err != nil {
		return err
	}
	if err := r.index.save(path); err != nil {
		return err
	}
	job.obs.Logf("key index: %d tickets listed in %d requests, %d keys", r.index.Listed, r.index.Pages, len(r.index.ByKey))
	before := r.index
	if saved != nil && job.prev != nil {
		before = saved
	}
	// The creates an interrupted run sent without learning their outcome:
	// their rows' keys, which no ticket held when its index was listed.
	doubtful := map[int]string{}
	err = job.writeRollbackFirst(ctx, newUpsertRun(r.u, r.index), func(rec pipeline.Record) bool {
		prior := job.st.Rows[rec.Pos.Row]
		if k := r.u.Key(rec); k != "" && len(before.ByKey[k]) == 0 && (prior.Type == pipeline.EntryIntent || prior.Type == pipeline.EntryUnknown) {
			doubtful[rec.Pos.Row] = k
		}
		return false
	})
	if err != nil {
		return err
	}
	return job.settleDoubtfulCreates(doubtful, r.index)
}

// settleDoubtfulCreates journals each create in doubt as found (its key's
// ticket in now, the index listed after the interrupted run) or not sent
// (it is sent again).
func (job *job) settleDoubtfulCreates(doubtful map[int]string, now *keyIndex) error {
	if len(doubtful) > 0 {
		job.obs.Logf("%d creates of the interrupted run were in doubt: settled by their keys in the key index listed now", len(doubtful))
	}
	for row, key := range doubtful {
		e := pipeline.JournalEntry{Type: pipeline.EntryVoid, Row: row}
		switch found := now.ByKey[key]; len(found) {
		case 0:
		case 1:
			e = pipeline.JournalEntry{Type: pipeline.EntryOK, Row: row, TicketID: found[0].ID, Action: ActionCreated, Key: key}
		default:
			e = pipeline.JournalEntry{Type: pipeline.EntryFail, Row: row, Code: CodeDuplicateKey,
				Message: fmt.Sprintf("key %q is held by %d tickets since the interrupted run: check them in Udesk", key, len(found))}
		}
		if err := job.j.Append(e); err != nil {
			return err
		}
		job.st.Rows[row] = e
	}
	return nil
}

// finish puts the upsert's counts in the report: what the rows became, as
// the journal and the results say (t: written by this run or an earlier
// one, unchanged), or, for a dry run (t nil), what they would become.
func (r *upsertRun) finish(s *pipeline.Report, t *tally) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.SetFact("key_index_requests", int64(r.index.Pages))
	s.SetFact("create_only_differences", r.createOnly)
	if t == nil {
		s.Skipped += r.unchanged
		s.SetFact("creates", r.creates)
		s.SetFact("updates", r.updates)
		s.SetFact("unchanged_rows", r.unchanged)
		s.SetFact("changed_fields", int64(len(r.changes)))
		s.Note("upsert by %s (dry run): %s, %s (%d fields), %d unchanged (nothing would be sent for them)",
			r.u.KeyField(), rowsWould(r.creates, "create a ticket"), rowsWould(r.updates, "update one"), len(r.changes), r.unchanged)
		r.noteCreateOnly(s)
		return
	}
	done := t.byAction()
	created, updated, unchanged := done.byAction[ActionCreated], done.byAction[ActionUpdated], done.byAction[ActionUnchanged]
	fields := 0
	for _, c := range r.changes {
		if done.updatedRows[c.Row] {
			fields++
		}
	}
	s.Skipped += unchanged
	s.SetFact("creates", created)
	s.SetFact("updates", updated)
	s.SetFact("unchanged_rows", unchanged)
	s.SetFact("changed_fields", int64(fields))
	s.Note("upsert by %s: %s created, %s updated (%d fields), %d unchanged (nothing sent for them)",
		r.u.KeyField(), rowsCount(created), rowsCount(updated), fields, unchanged)
	if left := r.creates + r.updates - (created - done.earlier[ActionCreated]) - (updated - done.earlier[ActionUpdated]); left > 0 {
		s.Note("%s planned by this run (%d creates, %d updates) were not written: refused (see errors.csv), in doubt, or never sent", rowsCount(left), r.creates, r.updates)
	}
	r.noteCreateOnly(s)
}

// noteCreateOnly says how many rows differ from their tickets in columns an
// update cannot change (the customer, the assignee, the group).
func (r *upsertRun) noteCreateOnly(s *pipeline.Report) {
	if r.createOnly > 0 {
		s.Note("%s differ from their tickets in columns an update cannot change (%s), %d of them only there (counted unchanged): these are set when a ticket is created; change them in Udesk",
			rowsCount(r.createOnly), strings.Join(r.createOnlyColumns(), ", "), r.onlyCreateOnly)
	}
}

func (r *upsertRun) createOnlyColumns() []string {
	cols := make([]string, 0, len(r.createOnlyCols))
	for c := range r.createOnlyCols {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	return cols
}

// rowsCount is "1 row" or "n rows".
func rowsCount(n int64) string {
	if n == 1 {
		return "1 row"
	}
	return fmt.Sprintf("%d rows", n)
}

// rowsWould is "1 row would X" or "n rows would X".
func rowsWould(n int64, what string) string { return rowsCount(n) + " would " + what }

// printPlan prints the upsert's plan: the key index, then each change.
func (r *upsertRun) printPlan(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(w, "key index: %d tickets listed in %d requests (the import lists them again), %d hold a key in %s\n",
		r.index.Listed, r.index.Pages, len(r.index.ByKey), r.u.KeyField())
	fmt.Fprintln(w, "changes against the tickets that hold the keys:")
	for _, c := range r.changes {
		fmt.Fprintf(w, "  #%d %s: %s -> %s\n", c.ID, c.Column, showCell(c.Old), showCell(c.New))
	}
	fmt.Fprintf(w, "%d rows create a ticket, %d update one (%d fields), %d unchanged\n", r.creates, r.updates, len(r.changes), r.unchanged)
	if r.createOnly > 0 {
		fmt.Fprintf(w, "%s differ from their tickets in columns an update cannot change (%s), %d of them only there (counted unchanged, nothing sent)\n",
			rowsCount(r.createOnly), strings.Join(r.createOnlyColumns(), ", "), r.onlyCreateOnly)
	}
}
