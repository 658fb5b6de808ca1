package ingest

// Round-trip editing: an export keeps each row as it wrote it (an .xlsx
// output in a hidden sheet, a .csv output in a copy beside it, see
// sinks.CSVOriginalsPath), and an update from the edited file compares each
// row with its original and sends only the fields that changed.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
	"github.com/udesk-etl/udesk-etl/sources"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// EditOptions steer the round trip of an update from an edited export.
type EditOptions struct {
	// Originals is the file holding the exported rows: a workbook exported
	// for editing, or the .originals.csv an export keeps beside a CSV.
	// "" finds them by the input's path.
	Originals string
	// NoOriginals sends every filled cell, without comparing.
	NoOriginals bool
	// CheckConflicts reads each changed ticket first and leaves it alone
	// when a field it changes was changed in Udesk since the export.
	CheckConflicts bool
	// DiffFile, when set, receives the changes as CSV (row, id, column,
	// field, old, new).
	DiffFile string
}

// editRun compares an edited file with its originals row by row.
type editRun struct {
	d       *mapping.Differ
	tickets interface {
		Ticket(context.Context, int64) (*udesk.Ticket, error)
	}
	check    bool // read each changed ticket before its write
	dry      bool // never read: the plan counts the reads
	path     string
	diffFile string

	mu        sync.Mutex
	changes   []mapping.Change
	changed   int64
	unchanged int64
	conflicts int64
}

// findOriginals returns the file (and, for a workbook, the sheets) holding
// the original rows of an update's input, "" when there are none.
func findOriginals(e EditOptions, input string, f *inputFile) (string, []string, error) {
	path := e.Originals
	explicit := path != ""
	if !explicit {
		path = input
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xlsx":
		var meta map[string]string
		if mr, ok := f.r.(sources.MetaReader); ok && path == input {
			meta = mr.Meta()
		} else if explicit {
			r, err := sources.OpenXLSX(path, "")
			if err != nil {
				return "", nil, pipeline.Configf("--originals: %w", err)
			}
			meta = r.Meta()
			r.Close()
		}
		if sheets := sources.OriginalsSheets(meta); len(sheets) > 0 {
			return path, sheets, nil
		}
		if explicit {
			return "", nil, pipeline.Configf("--originals %s: the workbook holds no original rows (it was not exported for editing)", path)
		}
	case ".csv":
		if explicit {
			return path, nil, nil
		}
		if p := sinks.CSVOriginalsPath(path); fileExists(p) {
			return p, nil, nil
		}
	default:
		if explicit {
			return "", nil, pipeline.Configf("--originals %s: want a workbook exported for editing (.xlsx) or the .originals.csv an export keeps beside a CSV", path)
		}
	}
	return "", nil, nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// prepareEdit returns how the job builds each row's operation: with the
// originals of an update's input, only what changed (editRun, also
// returned); else every filled cell.
func prepareEdit(op mapping.OpKind, e EditOptions, input string, f *inputFile, im *mapping.Importer, api API, obs pipeline.Observer, dry bool) (rowOps, *editRun, error) {
	// needs refuses the round-trip options when there is nothing to compare with.
	needs := func() error {
		var set []string
		for _, f := range []struct {
			on   bool
			name string
		}{{e.Originals != "", "--originals"}, {e.CheckConflicts, "--check-conflicts"}, {e.DiffFile != "", "--diff"}} {
			if f.on {
				set = append(set, f.name)
			}
		}
		switch {
		case len(set) == 0:
			return nil
		case op != mapping.Update:
			return pipeline.Configf("%s: only an --update compares with the original rows of an export", strings.Join(set, ", "))
		case e.NoOriginals:
			return pipeline.Configf("%s cannot be used with --no-originals", strings.Join(set, ", "))
		}
		return pipeline.Configf("%s: %s has no original rows to compare with (an export keeps them for .xlsx and .csv outputs); pass --originals PATH",
			strings.Join(set, ", "), input)
	}
	if op != mapping.Update || e.NoOriginals {
		return importerOps{im}, nil, needs()
	}
	path, sheets, err := findOriginals(e, input, f)
	if err != nil {
		return nil, nil, err
	}
	if path == "" {
		if slices.ContainsFunc(f.header, func(h string) bool { return strings.EqualFold(strings.TrimSpace(h), "updated_at") }) {
			// Sending every filled cell of an edited export would overwrite
			// what others changed since: the user must say which they mean.
			return nil, nil, pipeline.Configf("%s looks like an export (it has an updated_at column), but the rows it was exported with were not found (re-saved by another program, or renamed?): importing it would update every filled cell; pass --originals PATH (the exported workbook, or the .originals.csv in .udesk-etl beside an exported CSV) to send only what changed, or --no-originals to send every filled cell", input)
		}
		return importerOps{im}, nil, needs()
	}
	orig, err := loadOriginals(path, sheets)
	if err != nil {
		return nil, nil, &pipeline.ConfigError{Err: err}
	}
	d, err := mapping.NewDiffer(im, f.header, orig)
	if err != nil {
		return nil, nil, pipeline.Configf("%s: %w (or pass --no-originals to send every filled cell)", input, err)
	}
	where := path
	if len(sheets) > 0 {
		where = fmt.Sprintf("%s (hidden sheet %s)", path, strings.Join(sheets, ", "))
	}
	obs.Logf("edit: comparing each row with the %d original rows in %s; only changed fields are sent", orig.Len(), where)
	r := &editRun{d: d, tickets: api, check: e.CheckConflicts, dry: dry, path: where, diffFile: e.DiffFile}
	return r, r, nil
}

func loadOriginals(path string, sheets []string) (*mapping.Originals, error) {
	r, err := sources.OpenOriginals(path, sheets)
	if err != nil {
		return nil, fmt.Errorf("the original rows: %w", err)
	}
	defer r.Close()
	orig, err := mapping.NewOriginals(r.Header())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for {
		rec, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return orig, nil
		}
		if err != nil {
			return nil, fmt.Errorf("the original rows: %w", err)
		}
		if err := orig.Add(rec); err != nil {
			return nil, err
		}
	}
}

// Operation is the update of only the changed fields of one row, checked for
// conflicts with the ticket as it is now when asked; mapping.ErrUnchanged
// when nothing changed.
func (r *editRun) Operation(ctx context.Context, rec pipeline.Record) (mapping.Operation, error) {
	op, changes, err := r.d.Operation(rec)
	if errors.Is(err, mapping.ErrUnchanged) {
		r.mu.Lock()
		r.unchanged++
		r.mu.Unlock()
		return op, err
	}
	if err != nil {
		return op, err
	}
	r.mu.Lock()
	r.changes = append(r.changes, changes...)
	r.changed++
	r.mu.Unlock()
	if !r.check || r.dry {
		return op, nil
	}
	t, err := r.tickets.Ticket(ctx, op.ID)
	if err != nil {
		return op, &pipeline.RowError{Pos: rec.Pos, Err: &mapping.EditError{Code: CodeConflictCheck,
			Err: fmt.Errorf("reading ticket %d to check for conflicts: %w; nothing was sent", op.ID, err)}}
	}
	if err := r.d.Conflicts(rec.Pos, changes, t); err != nil {
		r.mu.Lock()
		r.conflicts++
		r.mu.Unlock()
		return op, err
	}
	return op, nil
}

// saw notes that the file has a row for rec's ticket, also when the import
// skips it (sent by an earlier run): only tickets without a row are deleted.
func (r *editRun) saw(rec pipeline.Record) {
	if r != nil {
		r.d.Saw(rec)
	}
}

// unchangedRows tells, ahead of the import, the rows that hold their
// originals' text (nil without a round trip), for the progress.
func (r *editRun) unchangedRows() func(pipeline.Record) bool {
	if r == nil {
		return nil
	}
	return r.d.Unchanged
}

// reads is the number of ticket reads the conflict checks make.
func (r *editRun) reads() int64 {
	if r == nil || !r.check {
		return 0
	}
	return r.changed
}

// finish writes the diff file and puts the round trip's counts in the report.
func (r *editRun) finish(s *pipeline.Report) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	missing := r.d.Missing()
	fields := int64(len(r.changes))
	s.Skipped += r.unchanged
	s.SetFact("unchanged_rows", r.unchanged)
	s.SetFact("changed_rows", r.changed)
	s.SetFact("changed_fields", fields)
	s.SetFact("deleted_rows", int64(len(missing)))
	s.Note("%s changed (%s), %d unchanged since the export (nothing sent for them)", plural(r.changed, "row"), plural(fields, "field"), r.unchanged)
	if r.check {
		s.SetFact("conflicts", r.conflicts)
		if r.conflicts > 0 {
			rows := fmt.Sprintf("%d rows were left alone: their tickets", r.conflicts)
			if r.conflicts == 1 {
				rows = "1 row was left alone: its ticket"
			}
			s.Note("%s changed in Udesk since the export (error_code %s)", rows, mapping.CodeConflict)
		}
	}
	if len(missing) > 0 {
		s.Note("%d exported tickets are not in the file (deleted rows are not acted on): %s", len(missing), idList(missing, 10))
	}
	if r.diffFile == "" {
		return nil
	}
	recs := [][]string{{"row", "id", "column", "field", "old", "new"}}
	for _, c := range r.changes {
		recs = append(recs, []string{strconv.Itoa(c.Row), strconv.FormatInt(c.ID, 10), c.Column, c.Field, c.Old, c.New})
	}
	if err := writeCSVFile(r.diffFile, recs); err != nil {
		return fmt.Errorf("--diff: %w", err)
	}
	s.Note("the changes are listed in %s", r.diffFile)
	return nil
}

// printDiff prints the change set, one line per field: #123 priority: 标准 -> 紧急.
func (r *editRun) printDiff(w io.Writer) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(w, "changes against the export (%s):\n", r.path)
	for _, c := range r.changes {
		fmt.Fprintf(w, "  #%d %s: %s -> %s\n", c.ID, c.Column, showCell(c.Old), showCell(c.New))
	}
	fmt.Fprintf(w, "%s changed (%s), %d unchanged", plural(r.changed, "row"), plural(len(r.changes), "field"), r.unchanged)
	if m := r.d.Missing(); len(m) > 0 {
		fmt.Fprintf(w, ", %d exported tickets not in the file (not acted on): %s", len(m), idList(m, 10))
	}
	fmt.Fprintln(w)
	if r.check {
		fmt.Fprintf(w, "--check-conflicts: each changed ticket is read before its write: %d more requests\n", r.changed)
	}
}

// showCell is a cell in a diff line: quoted when empty, multi-line or padded,
// cut when long.
func showCell(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		s = string([]rune(s)[:60]) + "…"
	}
	if s == "" || strings.TrimSpace(s) != s || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' }) {
		return strconv.Quote(s)
	}
	return s
}

func idList(ids []int64, n int) string {
	var parts []string
	for i, id := range ids {
		if i == n {
			parts = append(parts, fmt.Sprintf("... (%d more)", len(ids)-n))
			break
		}
		parts = append(parts, "#"+strconv.FormatInt(id, 10))
	}
	return strings.Join(parts, ", ")
}
