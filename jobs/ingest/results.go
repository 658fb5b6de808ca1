package ingest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

// ActionUnchanged is success.csv's action for a row whose ticket already
// held its values: nothing was sent.
const ActionUnchanged = "unchanged"

// tally collects a run's results: rows written, rows rejected, with the
// cells of every row that is still being sent (errors.csv repeats them). It
// is safe for concurrent use.
type tally struct {
	mu        sync.Mutex
	pending   map[int][]string
	successes []result
	failures  []rowFailure
	written   int64 // written by this run
	earlier   int64 // written by an earlier run of the same import
	unknown   int64
	found     map[string]int64 // creates found on the server after an unknown outcome, by how
	voided    int64            // writes proven not sent or not applied (sent again, or by the next run)
	prog      pipeline.Progress
	// freeUnchanged: unchanged rows are out of the progress (countRows
	// leaves them out of the total).
	freeUnchanged bool
}

func newTally(prog pipeline.Progress) *tally {
	return &tally{pending: map[int][]string{}, found: map[string]int64{}, prog: prog}
}

type rowFailure struct {
	row           int
	cells         []string
	code, message string
}

func (t *tally) fail(row int, cells []string, code, msg string) {
	t.mu.Lock()
	t.failures = append(t.failures, rowFailure{row, cells, code, msg})
	if code == CodeOutcomeUnknown {
		t.unknown++
	}
	t.mu.Unlock()
	pipeline.AddFailed(t.prog, 1)
}

// onResult is the sender's callback.
func (t *tally) onResult(r result) {
	t.mu.Lock()
	cells := t.pending[r.row]
	delete(t.pending, r.row)
	if r.code == "" {
		r.cells = cells
		t.successes = append(t.successes, r)
		t.written++
		if r.foundBy != "" {
			t.found[r.foundBy]++
		}
		t.mu.Unlock()
		t.prog.Add(1)
		return
	}
	t.mu.Unlock()
	t.fail(r.row, cells, r.code, fmt.Sprintf("row %d: %s", r.row, r.message))
}

// writtenEarlier records a row that an earlier run of the import wrote.
func (t *tally) writtenEarlier(e pipeline.JournalEntry, cells []string) {
	r := resultOf(e, "")
	r.cells, r.earlier = cells, true
	t.mu.Lock()
	t.successes = append(t.successes, r)
	t.earlier++
	t.mu.Unlock()
	pipeline.AddDone(t.prog, 1)
}

// unchanged records a row whose ticket already holds its values.
func (t *tally) unchanged(row int, id int64, cells []string) {
	t.mu.Lock()
	t.successes = append(t.successes, result{row: row, ticketID: id, action: ActionUnchanged, cells: cells})
	t.mu.Unlock()
	if !t.freeUnchanged {
		t.prog.Add(1)
	}
}

// void records the writes the sender proved never sent or not applied.
func (t *tally) void(n int) {
	t.mu.Lock()
	t.voided = int64(n)
	t.mu.Unlock()
}

// sending keeps a row's cells until its outcome, for errors.csv.
func (t *tally) sending(row int, cells []string) {
	t.mu.Lock()
	t.pending[row] = cells
	t.mu.Unlock()
}

// touchedRows are the rows an update reached or may have reached.
func (t *tally) touchedRows() map[int]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := map[int]bool{}
	for _, r := range t.successes {
		if r.action == ActionUpdated {
			m[r.row] = true
		}
	}
	for _, f := range t.failures {
		if f.code == CodeOutcomeUnknown {
			m[f.row] = true
		}
	}
	return m
}

// actionCounts are the rows of the results by action, those an earlier run
// wrote among them, and the rows updated.
type actionCounts struct {
	byAction    map[string]int64
	earlier     map[string]int64
	updatedRows map[int]bool
}

// byAction counts the rows of success.csv by action.
func (t *tally) byAction() actionCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := actionCounts{byAction: map[string]int64{}, earlier: map[string]int64{}, updatedRows: map[int]bool{}}
	for _, r := range t.successes {
		c.byAction[r.action]++
		if r.earlier {
			c.earlier[r.action]++
		}
		if r.action == ActionUpdated {
			c.updatedRows[r.row] = true
		}
	}
	return c
}

// inFlight is the number of rows sent without an outcome yet.
func (t *tally) inFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}

func (t *tally) failed() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int64(len(t.failures))
}

// summarize puts the run's counts in the report.
func (t *tally) summarize(r *pipeline.Report) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r.Written = t.written
	r.Failed = int64(len(t.failures))
	r.Skipped = t.earlier
	r.SetFact("written_earlier", t.earlier)
	byMarker, byMatch := t.found[foundByMarker], t.found[foundByMatch]
	r.SetFact("found_after_unknown_outcome", byMarker+byMatch)
	r.SetFact("found_by_marker", byMarker)
	r.SetFact("found_by_match", byMatch)
	r.SetFact("void", t.voided)
	r.SetFact("outcome_unknown", t.unknown)
	if byMarker+byMatch > 0 {
		r.Note("%d creates whose outcome was unknown were found on the server and not sent again (%d by their marker, %d by a match on every field the row sets)", byMarker+byMatch, byMarker, byMatch)
	}
	if t.voided > 0 {
		r.Note("%d writes were proven never sent or not applied (void): they were sent again, or are sent by the next run", t.voided)
	}
	if t.unknown > 0 {
		r.Note("%d rows have an unknown outcome (error_code %s): they were not resent; check them in Udesk, or re-run with --resend-unknown (creates that look alike are told apart only by a --marker-field)", t.unknown, CodeOutcomeUnknown)
	}
}

// writeResults writes success.csv (row, ticket_id, action, then the input's
// columns: a migration's old id -> new id map) and errors.csv
// (the input's columns unchanged, plus error_code and error_message) into
// dir, in input row order, UTF-8 with a BOM, mode 0600, each atomically.
// They are rendered from the journal and the input on every run, so a
// resumed run's files cover the whole import.
func (t *tally) writeResults(dir string, header []string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("results folder: %w", err)
	}
	// The temp files of a run killed while it wrote them: nothing else
	// writes in the folder now (the job is locked, rollback.csv comes after).
	pipeline.RemoveTemps(dir)
	t.mu.Lock()
	defer t.mu.Unlock()
	sort.Slice(t.successes, func(i, k int) bool { return t.successes[i].row < t.successes[k].row })
	ok := [][]string{append([]string{"row", "ticket_id", "action"}, header...)}
	for _, r := range t.successes {
		rec := make([]string, 3+len(header))
		rec[0], rec[1], rec[2] = strconv.Itoa(r.row), strconv.FormatInt(r.ticketID, 10), r.action
		copy(rec[3:], r.cells)
		ok = append(ok, rec)
	}
	if err := writeCSVFile(filepath.Join(dir, "success.csv"), ok); err != nil {
		return err
	}
	return t.writeErrors(filepath.Join(dir, "errors.csv"), header)
}

// writeErrorsCSV writes the rejected rows so that, once fixed, the file
// imports again: the same columns, cells exactly as read (a formula escape
// included), and two more columns that import ignores.
func (t *tally) writeErrorsCSV(path string, header []string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.writeErrors(path, header)
}

func (t *tally) writeErrors(path string, header []string) error {
	sort.SliceStable(t.failures, func(i, k int) bool { return t.failures[i].row < t.failures[k].row })
	recs := [][]string{append(append([]string{}, header...), colErrorCode, colErrorMessage)}
	for _, f := range t.failures {
		rec := make([]string, len(header), len(header)+2)
		copy(rec, f.cells)
		recs = append(recs, append(rec, f.code, f.message))
	}
	return writeCSVFile(path, recs)
}

// writeCSVFile writes records as UTF-8 CSV with a BOM (so Excel reads it as
// UTF-8), keeping line breaks inside cells verbatim, mode 0600.
func writeCSVFile(path string, recs [][]string) error {
	var b bytes.Buffer
	b.WriteString("\uFEFF")
	w := csv.NewWriter(&b)
	if err := w.WriteAll(recs); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := pipeline.WriteFileAtomic(path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// resultsWritten says whether dir holds both results files.
func resultsWritten(dir string) bool {
	for _, name := range []string{"success.csv", "errors.csv"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// rejectedRows counts the rows of dir's errors.csv: every row the run that
// wrote it rejected, by Udesk or before sending (the journal holds only the
// former).
func rejectedRows(dir string) (int64, error) {
	f, err := os.Open(filepath.Join(dir, "errors.csv"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil || len(recs) == 0 {
		return 0, fmt.Errorf("%s: not a results file: %v", f.Name(), err)
	}
	return int64(len(recs) - 1), nil
}

// runStampName is the file in a results folder naming the run whose files it
// holds: success.csv, errors.csv and rollback.csv of one run belong together.
const runStampName = ".udesk-etl-run"

// resultsFree refuses, for a new run, a results folder that already holds a
// run's results: replacing some of its files and keeping others would leave
// files that contradict each other.
func resultsFree(dir string) error {
	for _, name := range []string{runStampName, "success.csv", "errors.csv", "rollback.csv"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return pipeline.Configf("--results %s already holds the results of another run (%s): a run's success.csv, errors.csv and rollback.csv are kept together; choose another folder, or move those files away", dir, name)
		}
	}
	return nil
}

// stampResults marks dir as the results of run runID, and refuses it when
// it holds another run's.
func stampResults(dir, runID string) error {
	path := filepath.Join(dir, runStampName)
	b, err := os.ReadFile(path)
	switch {
	case err == nil && string(bytes.TrimSpace(b)) == runID:
		return nil
	case err == nil:
		return pipeline.Configf("--results %s holds the results of another run (%s), not of this import's (%s): choose another folder, or move them away", dir, bytes.TrimSpace(b), runID)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("results folder: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("results folder: %w", err)
	}
	return pipeline.WriteFileAtomic(path, []byte(runID+"\n"), 0o600)
}
