package ingest

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// rollbackInfo is what a run's rollback.csv holds: id and the previous
// value of each field the run changes, written before the first update is
// sent, so that `import --update -i rollback.csv` undoes the run.
type rollbackInfo struct {
	path    string // "" when the run changes nothing
	changes []mapping.Change
	tickets int
	fields  int
	empty   int // fields that were empty: an update cannot clear them again
}

// writeRollback writes rollback.csv into dir (the first change of a ticket's
// field wins): a column per changed field
// (the update's column name or the custom field's field_name), a row per
// ticket; a cell is empty where the run leaves the field alone, or where it
// was empty before (the API cannot clear a field: counted in info.empty).
func writeRollback(dir string, changes []mapping.Change, info *rollbackInfo) error {
	if len(changes) == 0 {
		return nil
	}
	type at struct {
		id    int64
		field string
	}
	seen := map[at]bool{}
	var uniq []mapping.Change
	for _, c := range changes {
		if !seen[at{c.ID, c.Field}] {
			seen[at{c.ID, c.Field}] = true
			uniq = append(uniq, c)
		}
	}
	changes = uniq
	col := map[string]int{}
	header := []string{"id"}
	row := map[int64]int{}
	var ids []int64
	for _, c := range changes {
		if _, ok := col[c.Field]; !ok {
			col[c.Field] = len(header)
			header = append(header, c.Field)
		}
		if _, ok := row[c.ID]; !ok {
			row[c.ID] = len(ids)
			ids = append(ids, c.ID)
		}
	}
	recs := make([][]string, len(ids))
	for i, id := range ids {
		recs[i] = make([]string, len(header))
		recs[i][0] = strconv.FormatInt(id, 10)
	}
	for _, c := range changes {
		recs[row[c.ID]][col[c.Field]] = mapping.EscapeFormula(c.Old)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("results folder: %w", err)
	}
	*info = rollbackInfo{path: filepath.Join(dir, "rollback.csv"), changes: changes, tickets: len(recs), fields: len(changes), empty: emptyBefore(changes)}
	return writeCSVFile(info.path, append([][]string{header}, recs...))
}

// emptyBefore counts the changed fields that were empty before the change.
func emptyBefore(changes []mapping.Change) int {
	n := 0
	for _, c := range changes {
		if c.Old == "" {
			n++
		}
	}
	return n
}

func (rb rollbackInfo) note(s *pipeline.Report) {
	if rb.path == "" {
		return
	}
	s.Note("%s holds the previous value of the %d fields this import changes on %d tickets: import it with --update to undo them", rb.path, rb.fields, rb.tickets)
	if rb.empty > 0 {
		s.Note("%d changed fields were empty before and cannot be undone (the API cannot clear a field); nor can a create", rb.empty)
	}
}

// changeLister is a rowOps that keeps the changes of the rows it maps.
type changeLister interface {
	rowOps
	changeList() []mapping.Change
}

// writeRollbackFirst writes rollback.csv before anything is sent: ops maps a
// second reading of the input (sending nothing) and keeps the previous value
// of each field the run changes; settled, when set, is asked first for each
// row, as in rowSteps. A resumed run keeps the values the file already holds:
// they are from before the earlier runs' updates.
func (job *job) writeRollbackFirst(ctx context.Context, ops changeLister, settled func(pipeline.Record) bool) error {
	f, _, err := job.o.open(job.in)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = mapRows(ctx, f, ops, newTally(pipeline.Quiet{}.Phase("", "", 0)), rowSteps{settled: settled,
		emit: func(pipeline.Record, mapping.Operation) error { return nil }})
	if err != nil {
		return err
	}
	changes := ops.changeList()
	if job.prev != nil {
		earlier, err := readRollback(filepath.Join(job.results, "rollback.csv"))
		if err != nil {
			return err
		}
		changes = append(earlier, changes...)
	}
	return writeRollback(job.results, changes, &job.rollback)
}

// narrowRollback rewrites rollback.csv, once nothing is in flight, to the
// rows that were updated or may have been: a row refused, left alone after a
// conflict check or never sent is not to be undone. Changes of an earlier
// run's file (row 0) are kept.
func (job *job) narrowRollback() error {
	rb := &job.rollback
	if rb.path == "" {
		return nil
	}
	touched := job.t.touchedRows()
	var keep []mapping.Change
	for _, c := range rb.changes {
		if c.Row == 0 || touched[c.Row] {
			keep = append(keep, c)
		}
	}
	if len(keep) == len(rb.changes) {
		return nil
	}
	if len(keep) == 0 {
		err := os.Remove(rb.path)
		*rb = rollbackInfo{}
		return err
	}
	return writeRollback(job.results, keep, rb)
}

// readRollback reads the changes a rollback.csv holds (none when there is
// no such file).
func readRollback(path string) ([]mapping.Change, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, fmt.Errorf("%s: %v (remove it to write it again from this run's changes)", path, err)
	}
	var out []mapping.Change
	for _, rec := range recs[1:] {
		id, err := strconv.ParseInt(rec[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: id %q: %v", path, rec[0], err)
		}
		for i, v := range rec[1:] {
			if v != "" {
				out = append(out, mapping.Change{ID: id, Field: recs[0][i+1], Old: mapping.UnescapeFormula(v)})
			}
		}
	}
	return out, nil
}

// previousReader reads each ticket a plain update changes (--rollback) and
// keeps what the update overwrites.
type previousReader struct {
	im      *mapping.Importer
	prev    *mapping.Previous
	tickets interface {
		Ticket(context.Context, int64) (*udesk.Ticket, error)
	}
	changes []mapping.Change
	failed  error // a read that failed: the run must not go on without it
}

func (r *previousReader) Operation(ctx context.Context, rec pipeline.Record) (mapping.Operation, error) {
	op, err := r.im.Operation(rec)
	if err != nil || r.failed != nil {
		return op, err
	}
	t, err := r.tickets.Ticket(ctx, op.ID)
	var ue *udesk.Error
	switch {
	case errors.As(err, &ue) && ue.Code == udesk.StatusTicketNotFound:
		return op, err // not found: the update fails too
	case err != nil:
		r.failed = fmt.Errorf("--rollback: reading ticket %d to save its values: %w", op.ID, err)
		return op, err
	}
	r.changes = append(r.changes, r.prev.Changes(rec, t)...)
	return op, nil
}

func (r *previousReader) changeList() []mapping.Change { return r.changes }

func (r *editRun) changeList() []mapping.Change { return r.changes }

// prepareRollback writes rollback.csv for an update before it is sent: from
// the originals of a round trip, or (Options.Rollback) by reading each ticket.
func (job *job) prepareRollback(ctx context.Context) error {
	switch {
	case job.ed != nil:
		return job.writeRollbackFirst(ctx, &editRun{d: job.ed.d, dry: true}, nil)
	case job.o.Rollback && job.o.Op == mapping.Update:
		im := job.ops.(importerOps).im
		r := &previousReader{im: im, prev: mapping.NewPrevious(im), tickets: job.api}
		// A row an earlier run wrote holds the new values already; its
		// previous ones are in the rollback.csv that run wrote.
		err := job.writeRollbackFirst(ctx, r, func(rec pipeline.Record) bool {
			return job.st.Rows[rec.Pos.Row].Type == pipeline.EntryOK
		})
		return errors.Join(r.failed, err)
	}
	return nil
}
