package main

// `udesk-etl import` sends one write per input row, exactly once across
// crashes and re-runs. Its state folder (stateDir, beside the input) holds:
//
//	fields.json    the field catalog read at the start (a resumed run uses it)
//	journal.jsonl  append-only: a header (input hash, run id, results folder),
//	               then per row an intent, fsynced before the write is sent,
//	               and its outcome (ok with the ticket id, fail, unknown, void);
//	               "complete" once every row has an outcome
//
// A re-run of an unfinished import skips rows with an outcome and settles rows
// with only an intent before resending them (sinks.APISink). A re-run of a
// complete one writes nothing and says so; --fresh starts over. An input that
// changed since the journal began is refused. success.csv and errors.csv are
// rendered from the journal and the input at the end of every run.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
	"github.com/udesk-etl/udesk-etl/sources"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// importOptions are the flags of `udesk-etl import`.
type importOptions struct {
	conn connOptions
	op   mapping.OpKind
	inputOptions
	dryRun        bool
	results       string
	fresh         bool
	resendUnknown bool
	markerField   string
	report        string
	edit          editOptions // round-trip editing (edit.go)
}

// inputOptions are the flags of commands that read and map an input file
// (import and convert).
type inputOptions struct {
	input        string
	sheet        string
	encoding     string
	mappingFile  string
	selectValues string
}

func (o *inputOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.input, "i", "", "the input `FILE` (.csv, .xlsx, .jsonl or .parquet)")
	fs.StringVar(&o.sheet, "sheet", "", "XLSX: the sheet to read (default: the first)")
	fs.StringVar(&o.encoding, "encoding", "", "CSV: utf-8, gbk or gb18030 (default: detected)")
	fs.StringVar(&o.mappingFile, "mapping", "", "a column mapping `FILE` (YAML or JSON)")
	fs.StringVar(&o.selectValues, "select-values", "", "select fields are written as labels or indexes (default: either)")
}

// opFlags registers --create, --update and --reply and returns a function
// that says which one was chosen (def when none, an error when several).
func opFlags(fs interface {
	BoolVar(*bool, string, bool, string)
}, def mapping.OpKind) func() (mapping.OpKind, error) {
	var c, u, r bool
	fs.BoolVar(&c, "create", false, "create a ticket per row")
	fs.BoolVar(&u, "update", false, "update the ticket named by each row's id")
	fs.BoolVar(&r, "reply", false, "add a customer reply to the ticket named by each row's id")
	return func() (mapping.OpKind, error) {
		var ops []mapping.OpKind
		for _, o := range []struct {
			set bool
			k   mapping.OpKind
		}{{c, mapping.Create}, {u, mapping.Update}, {r, mapping.Reply}} {
			if o.set {
				ops = append(ops, o.k)
			}
		}
		switch {
		case len(ops) == 1:
			return ops[0], nil
		case len(ops) == 0 && def != 0:
			return def, nil
		case len(ops) == 0:
			return 0, usagef("choose what to do with each row: --create, --update or --reply")
		}
		return 0, usagef("choose one of --create, --update and --reply, not several")
	}
}

func runImportCommand(ctx context.Context, a *app, args []string) error {
	var o importOptions
	fs := newFlagSet(a, "import", "(--create|--update|--reply) -i FILE [options]")
	op := opFlags(fs, 0)
	o.inputOptions.register(fs)
	fs.BoolVar(&o.dryRun, "dry-run", false, "check every row and print the plan; send no write")
	fs.StringVar(&o.results, "results", "", "write success.csv and errors.csv into `DIR` (default: a folder beside the input)")
	fs.BoolVar(&o.fresh, "fresh", false, "discard the saved state of this import and start over")
	fs.BoolVar(&o.resendUnknown, "resend-unknown", false, "send again the rows whose outcome is unknown (may duplicate a reply or comment)")
	fs.StringVar(&o.markerField, "marker-field", "", "create: a text custom `FIELD` that receives a unique marker per row, used to find a create whose outcome is unknown")
	fs.StringVar(&o.report, "report", "", "write the summary as JSON to `FILE`")
	o.edit.register(fs)
	o.conn.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if o.op, err = op(); err != nil {
		return err
	}
	if o.input == "" {
		return usagef("no input: pass -i FILE")
	}
	if o.markerField != "" && o.op != mapping.Create {
		return usagef("--marker-field applies to --create only")
	}
	return runImport(ctx, a, &o)
}

// Column names errors.csv adds to the input's own.
const (
	colErrorCode    = "error_code"
	colErrorMessage = "error_message"
)

// Error codes of rows rejected before any write (the API sink has its own).
const (
	codeInvalid       = "invalid"        // a value the mapping rejects
	codeUnreadableRow = "unreadable_row" // a row the reader could not parse
)

// inputFile is an opened input: its reader, its header without the columns
// a previous errors.csv added, and where those were.
type inputFile struct {
	r       pipeline.RecordReader
	header  []string // the file's own columns, as errors.csv repeats them
	keep    []int    // indexes of the file's own columns in each record
	dropped bool     // the file had error_code/error_message columns

	// The first record, read at open to refuse a file without data rows
	// before any state is kept; Next returns it first.
	first    pipeline.Record
	firstErr error
	peeked   bool
}

// openMappedInput loads the --mapping file, if any, then opens the input.
func openMappedInput(path, sheet, encoding, mappingFile string) (*inputFile, *mapping.MappingFile, error) {
	var mf *mapping.MappingFile
	if mappingFile != "" {
		var err error
		if mf, err = mapping.LoadMappingFile(mappingFile); err != nil {
			return nil, nil, usageError{err}
		}
	}
	in, err := openInput(path, sheet, encoding)
	if err != nil {
		return nil, nil, err
	}
	return in, mf, nil
}

func openInput(path, sheet, encoding string) (*inputFile, error) {
	r, err := sources.Open(path, sources.OpenOptions{Sheet: sheet, Encoding: encoding})
	if err != nil {
		return nil, usageError{err}
	}
	// An exported workbook over Excel's row limit holds its rows in several
	// sheets; reading only the first would leave the others out unsaid.
	if m, ok := r.(sources.MetaReader); ok && sheet == "" {
		if sheets := strings.Split(m.Meta()["data_sheets"], ","); len(sheets) > 1 {
			r.Close()
			return nil, usagef("%s holds its rows in %d sheets (%s): import each with --sheet NAME", path, len(sheets), strings.Join(sheets, ", "))
		}
	}
	in := &inputFile{r: r}
	for i, h := range r.Header() {
		if k := strings.ToLower(strings.TrimSpace(h)); k == colErrorCode || k == colErrorMessage {
			in.dropped = true
			continue
		}
		in.header = append(in.header, h)
		in.keep = append(in.keep, i)
	}
	in.first, in.firstErr = r.Next(context.Background())
	if errors.Is(in.firstErr, io.EOF) {
		r.Close()
		return nil, usagef("%s: no data rows (only a header)", path)
	}
	in.peeked = true
	return in, nil
}

// cells returns a record's cells without the columns a previous errors.csv
// added, so that a fixed errors.csv imports like the original file.
func (in *inputFile) cells(c []string) []string {
	if !in.dropped {
		return c
	}
	out := make([]string, 0, len(in.keep))
	for _, i := range in.keep {
		if i < len(c) {
			out = append(out, c[i])
		} else {
			out = append(out, "")
		}
	}
	return out
}

// inputFile is a pipeline.RecordReader of the file's own columns.
func (in *inputFile) Header() []string { return in.header }

// Next returns the next record with the file's own cells, io.EOF at the end.
func (in *inputFile) Next(ctx context.Context) (pipeline.Record, error) {
	var rec pipeline.Record
	var err error
	if in.peeked {
		rec, err, in.peeked = in.first, in.firstErr, false
		in.first = pipeline.Record{}
	} else {
		rec, err = in.r.Next(ctx)
	}
	rec.Cells = in.cells(rec.Cells)
	return rec, err
}

func (in *inputFile) Close() error { return in.r.Close() }

// newImporter checks the input's columns against the catalog and the
// mapping; an error names the input and every column at fault.
func newImporter(cat *mapping.Catalog, input string, header []string, op mapping.OpKind, selectValues string, mf *mapping.MappingFile) (*mapping.Importer, error) {
	im, err := mapping.NewImporter(cat, header, mapping.ImportOptions{Op: op, SelectValues: selectValues, Mapping: mf})
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", input, err)}
	}
	return im, nil
}

// importRowOps checks an import's input and flags against the catalog and
// returns how each row becomes an operation, the round trip's edit run (nil
// when not comparing with originals) and --marker-field's field_name.
func importRowOps(a *app, o *importOptions, in *inputFile, mf *mapping.MappingFile, cat *mapping.Catalog, client *udesk.Client, dry bool) (rowOps, *editRun, string, error) {
	im, err := newImporter(cat, o.input, in.header, o.op, o.selectValues, mf)
	if err != nil {
		return nil, nil, "", err
	}
	marker, err := markerField(cat, in.header, o.markerField)
	if err != nil {
		return nil, nil, "", err
	}
	ops, ed, err := prepareEdit(a, o, in, im, client, dry)
	if err != nil {
		return nil, nil, "", err
	}
	return ops, ed, marker, nil
}

// fetchFields reads the tenant's field catalog.
func fetchFields(ctx context.Context, client *udesk.Client) ([]udesk.Field, error) {
	fields, err := client.Fields(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the field catalog: %w", err)
	}
	return fields, nil
}

// fileSHA256 hashes the input so that a resumed import can tell whether it
// changed since the journal was started.
func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, usageError{err}
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, usageError{fmt.Errorf("%s: %w", path, err)}
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// importRun collects a run's results: rows written, rows rejected, with the
// cells of every row that is still being sent (errors.csv repeats them).
type importRun struct {
	mu        sync.Mutex
	pending   map[int][]string
	successes []sinks.Result
	failures  []rowFailure
	written   int64 // written by this run
	earlier   int64 // written by an earlier run of the same import
	unknown   int64
	found     int64 // creates found on the server after an unknown outcome
	prog      *progress
}

type rowFailure struct {
	row           int
	cells         []string
	code, message string
}

func (ir *importRun) fail(row int, cells []string, code, msg string) {
	ir.mu.Lock()
	ir.failures = append(ir.failures, rowFailure{row, cells, code, msg})
	if code == sinks.CodeOutcomeUnknown {
		ir.unknown++
	}
	ir.mu.Unlock()
	ir.prog.Add(1)
}

// onResult is the API sink's callback.
func (ir *importRun) onResult(r sinks.Result) {
	ir.mu.Lock()
	cells := ir.pending[r.Row]
	delete(ir.pending, r.Row)
	if r.Code == "" {
		ir.successes = append(ir.successes, r)
		ir.written++
		if r.Reconciled {
			ir.found++
		}
		ir.mu.Unlock()
		ir.prog.Add(1)
		return
	}
	ir.mu.Unlock()
	ir.fail(r.Row, cells, r.Code, fmt.Sprintf("row %d: %s", r.Row, r.Message))
}

// writtenEarlier records a row that an earlier run of the import wrote.
func (ir *importRun) writtenEarlier(e pipeline.JournalEntry) {
	ir.mu.Lock()
	ir.successes = append(ir.successes, sinks.ResultOf(e, false))
	ir.earlier++
	ir.mu.Unlock()
	ir.prog.Add(1)
}

// sending keeps a row's cells until its outcome, for errors.csv.
func (ir *importRun) sending(row int, cells []string) {
	ir.mu.Lock()
	ir.pending[row] = cells
	ir.mu.Unlock()
}

// inFlight is the number of rows sent without an outcome yet.
func (ir *importRun) inFlight() int {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	return len(ir.pending)
}

// summarize puts the run's counts in the summary.
func (ir *importRun) summarize(s *summary) {
	s.Written = ir.written
	s.Failed = int64(len(ir.failures))
	s.Skipped = ir.earlier
	s.SetFact("written_earlier", ir.earlier)
	s.SetFact("found_after_unknown_outcome", ir.found)
	s.SetFact("outcome_unknown", ir.unknown)
	if ir.found > 0 {
		s.Note("%d creates whose outcome was unknown were found on the server and not sent again", ir.found)
	}
	if ir.unknown > 0 {
		s.Note("%d rows have an unknown outcome (error_code %s): they were not resent; check them in Udesk, or re-run with --resend-unknown", ir.unknown, sinks.CodeOutcomeUnknown)
	}
}

// rowErrorMessage turns the mapping's joined row errors into one line that
// names the row and each column at fault.
func rowErrorMessage(pos pipeline.Position, err error) string {
	var parts []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var re *pipeline.RowError
		if errors.As(e, &re) {
			if re.Column != "" {
				parts = append(parts, fmt.Sprintf("column %q: %v", re.Column, re.Err))
			} else {
				parts = append(parts, re.Err.Error())
			}
			return
		}
		parts = append(parts, e.Error())
	}
	walk(err)
	return fmt.Sprintf("row %d: %s", pos.Row, strings.Join(parts, "; "))
}

// runImport opens the input, then checks it (--dry-run) or imports it
// (importJob).
func runImport(ctx context.Context, a *app, o *importOptions) error {
	start := time.Now()
	in, mf, err := openMappedInput(o.input, o.sheet, o.encoding, o.mappingFile)
	if err != nil {
		return err
	}
	defer in.Close()
	client, err := o.conn.client(a)
	if err != nil {
		return err
	}
	if o.dryRun {
		return runDryImport(ctx, a, o, in, mf, client, start)
	}

	job := &importJob{a: a, o: o, in: in, client: client, start: start}
	if done, err := job.openState(); err != nil || done {
		return err
	}
	cat, err := job.catalog(ctx)
	if err != nil {
		return err
	}
	if job.ops, job.ed, job.marker, err = importRowOps(a, o, in, mf, cat, client, false); err != nil {
		return err
	}
	if err := job.openJournal(); err != nil {
		return err
	}
	defer job.j.Close()
	job.results = o.resultsDir(job.st.Header)
	fmt.Fprintf(a.stderr, "results: %s\n", job.results)
	job.s = &summary{Command: "import --" + o.op.String(), Report: pipeline.Report{State: job.dir, Results: job.results}}
	readErr, sendErr := job.send(ctx)
	return job.finish(ctx, errors.Join(readErr, sendErr))
}

// importJob is a real (not dry) import. runImport calls its steps in order:
// openState, catalog, openJournal, send, finish.
type importJob struct {
	a      *app
	o      *importOptions
	in     *inputFile
	client *udesk.Client
	start  time.Time

	dir      string // the state folder
	inHash   string // the input's SHA-256: a resumed run refuses a changed file
	inSize   int64
	prev     *pipeline.JournalState // what an earlier run left; nil on a first run
	rerender bool                   // a finished import run again only to write its results

	ops    rowOps
	ed     *editRun
	marker string // --marker-field's field_name, "" without it

	j       *pipeline.Journal
	st      *pipeline.JournalState // every row's last entry when this run began
	results string                 // the results folder
	ir      *importRun
	s       *summary
}

func (job *importJob) journalPath() string { return filepath.Join(job.dir, "journal.jsonl") }

// openState makes the state folder (emptied first with --fresh) and reads
// the journal an earlier run of the same import left there. done is true
// when that run finished and there is nothing left to do.
func (job *importJob) openState() (done bool, err error) {
	o, a := job.o, job.a
	url := o.conn.url
	if url == "" {
		url = a.getenv("UDESK_URL")
	}
	// The same command on the same file resumes the same state.
	job.dir = pipeline.StateDir(o.input, "import-"+o.op.String(), url, pipeline.AbsPath(o.input), o.op.String(), o.sheet, pipeline.AbsPath(o.mappingFile))
	if o.fresh {
		if err := os.RemoveAll(job.dir); err != nil {
			return false, fmt.Errorf("--fresh: removing %s: %w", job.dir, err)
		}
	}
	if err := pipeline.MakeStateDir(job.dir); err != nil {
		return false, fmt.Errorf("state folder %s: %w", job.dir, err)
	}
	fmt.Fprintf(a.stderr, "state: %s\n", job.dir)
	if job.inHash, job.inSize, err = fileSHA256(o.input); err != nil {
		return false, err
	}
	prev, err := pipeline.ReadJournal(job.journalPath())
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%v (the import's state is damaged; run with --fresh to start over, which may send rows again)", err)
	}
	job.prev = prev
	return job.checkPrevious()
}

// checkPrevious refuses to resume on a changed input, and stops a re-run of
// a finished import unless it has rows to resend or results to write again.
func (job *importJob) checkPrevious() (done bool, err error) {
	o, a, prev := job.o, job.a, job.prev
	written := prev.Count(pipeline.EntryOK)
	if prev.Header.InputSHA256 != job.inHash {
		return false, usagef("%s changed since the import in %s started (%d rows already sent, %d written); run with --fresh to import it again as a new file (every row is sent again), or restore the file to resume",
			o.input, job.dir, len(prev.Rows), written)
	}
	finished := prev.Complete && !(o.resendUnknown && prev.Count(pipeline.EntryUnknown) > 0)
	if !finished {
		return false, nil
	}
	// A crash between the complete marker and the results files leaves them
	// missing: the re-run renders them again from the journal.
	if results := o.resultsDir(prev.Header); !resultsWritten(results) {
		job.rerender = true
		fmt.Fprintf(a.stderr, "%s was already imported, but its results are missing from %s: writing them again from the saved state\n", o.input, results)
		return false, nil
	}
	fmt.Fprintf(a.stderr, "%s was already imported (%d rows written, %d failed, %d outcome unknown, started %s); results in %s\nuse --fresh to import it again\n",
		o.input, written, prev.Count(pipeline.EntryFail), prev.Count(pipeline.EntryUnknown),
		prev.Header.Started.Local().Format("2006-01-02 15:04:05"), prev.Header.Meta["results"])
	return true, nil
}

// catalog is the field catalog the rows are checked against: a resumed run
// uses the one saved with the state, so that every row of an import is
// checked the same way; a first run reads it and saves it.
func (job *importJob) catalog(ctx context.Context) (*mapping.Catalog, error) {
	path := filepath.Join(job.dir, "fields.json")
	if job.prev != nil {
		cat, err := mapping.LoadCatalog(path)
		if err != nil {
			return nil, fmt.Errorf("the saved field catalog: %v (run with --fresh to start over)", err)
		}
		return cat, nil
	}
	fields, err := fetchFields(ctx, job.client)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	if err := udesk.WriteFields(&b, fields); err != nil {
		return nil, err
	}
	if err := pipeline.WriteFileAtomic(path, []byte(b.String()), 0o600); err != nil {
		return nil, fmt.Errorf("saving the field catalog: %w", err)
	}
	return mapping.NewCatalog(fields), nil
}

// openJournal starts a first run's journal, or reopens an earlier run's. A
// resumed run must use the same --marker-field: the markers of its creates
// are how the sink finds those whose outcome is unknown.
func (job *importJob) openJournal() error {
	o, path := job.o, job.journalPath()
	if job.prev == nil {
		results := o.results
		if results == "" {
			results = defaultResultsDir(o.input, o.op.String()+"-results", job.start)
		}
		h := pipeline.JournalHeader{Op: o.op.String(), RunID: newRunID(job.start), Input: o.input, InputSHA256: job.inHash, InputSize: job.inSize,
			Started: job.start, Meta: map[string]string{"results": pipeline.AbsPath(results), "marker_field": job.marker}}
		j, err := pipeline.CreateJournal(path, h)
		if err != nil {
			return err
		}
		job.j, job.st = j, &pipeline.JournalState{Header: h, Rows: map[int]pipeline.JournalEntry{}}
		return nil
	}
	j, st, err := pipeline.OpenJournal(path)
	if err != nil {
		return err
	}
	if m := st.Header.Meta["marker_field"]; m != job.marker {
		j.Close()
		return usagef("--marker-field %q differs from the interrupted run's %q; use the same, or --fresh", o.markerField, m)
	}
	fmt.Fprintf(job.a.stderr, "resuming: %d rows written, %d in doubt (checked before anything is resent)\n",
		st.Count(pipeline.EntryOK), st.Count(pipeline.EntryIntent))
	job.j, job.st = j, st
	return nil
}

// resultsDir is where success.csv and errors.csv go: --results, else the
// folder the import's first run chose.
func (o *importOptions) resultsDir(h pipeline.JournalHeader) string {
	if o.results != "" {
		return o.results
	}
	return h.Meta["results"]
}

// send reads every row and hands those without an outcome yet to the API
// sink, which journals each write. It returns the error that stopped the
// reading, if any, and the sink's.
func (job *importJob) send(ctx context.Context) (readErr, sendErr error) {
	o, st, s := job.o, job.st, job.s
	ir := &importRun{pending: map[int][]string{}, prog: newProgress(job.a, o.conn.quiet, "import", "rows", 0)}
	job.ir = ir
	sink := sinks.NewAPISink(job.client, sinks.APIOptions{Journal: job.j, Concurrency: o.conn.concurrency, MarkerField: job.marker,
		RunID: st.Header.RunID, OnResult: ir.onResult})
	// Settling an unknown create must never take a ticket that an earlier
	// run created for another row.
	for _, e := range st.Rows {
		if e.Type == pipeline.EntryOK && e.Action == sinks.ActionCreated {
			sink.Claim(e.TicketID)
		}
	}
	sink.Start(ctx)
	for {
		rec, err := job.in.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		var re *pipeline.RowError
		if errors.As(err, &re) {
			s.Read++
			ir.fail(rec.Pos.Row, rec.Cells, codeUnreadableRow, rowErrorMessage(rec.Pos, err))
			continue
		}
		if err != nil {
			readErr = err
			break
		}
		s.Read++
		job.ed.saw(rec)
		row := rec.Pos.Row
		prior, seen := st.Rows[row]
		if seen && job.replay(rec, prior) {
			continue
		}
		op, err := job.ops.Operation(ctx, rec)
		if errors.Is(err, mapping.ErrUnchanged) {
			ir.prog.Add(1)
			continue
		}
		if err != nil {
			ir.fail(row, rec.Cells, rowErrorCode(err), rowErrorMessage(rec.Pos, err))
			continue
		}
		ir.sending(row, rec.Cells)
		if seen && prior.Type == pipeline.EntryIntent {
			sink.SendInDoubt(op, prior)
			continue
		}
		if err := sink.Send(op); err != nil {
			break // Close reports why
		}
	}
	sendErr = sink.Close()
	ir.prog.Finish()
	return readErr, sendErr
}

// replay reports a row whose outcome an earlier run journaled, and says
// whether that settles it: written and refused rows are never sent again,
// rows of unknown outcome only with --resend-unknown.
func (job *importJob) replay(rec pipeline.Record, prior pipeline.JournalEntry) bool {
	row := rec.Pos.Row
	switch prior.Type {
	case pipeline.EntryOK:
		job.ir.writtenEarlier(prior)
		return true
	case pipeline.EntryFail:
		job.ir.fail(row, rec.Cells, prior.Code, fmt.Sprintf("row %d: %s", row, prior.Message))
		return true
	case pipeline.EntryUnknown:
		if !job.o.resendUnknown {
			job.ir.fail(row, rec.Cells, prior.Code, fmt.Sprintf("row %d: %s", row, prior.Message))
			return true
		}
	}
	return false
}

// finish writes the results, marks the journal complete once every row has
// an outcome, and prints the summary. runErr is what stopped sending.
func (job *importJob) finish(ctx context.Context, runErr error) error {
	ir, s := job.ir, job.s
	// Rows sent but still without an outcome (interrupted, or still in
	// doubt after several resends) keep the journal open for the next run.
	open := ir.inFlight()
	if open > 0 && runErr == nil && ctx.Err() == nil {
		runErr = fmt.Errorf("the import stopped with %d rows still in doubt (sent, but Udesk's reply never came); they are checked before anything is sent again", open)
	}
	// The results go first: a crash before the complete marker leaves a
	// run that renders them again.
	if err := writeResults(job.results, job.in.header, ir); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if runErr == nil && ctx.Err() == nil && open == 0 && !job.rerender {
		if err := job.j.Append(pipeline.JournalEntry{Type: pipeline.EntryComplete}); err != nil {
			runErr = err
		}
	}

	ir.summarize(s)
	if err := job.ed.finish(s); err != nil {
		runErr = errors.Join(runErr, err)
	}
	s.finish(job.client, job.start)
	s.print(job.a.stderr)
	if err := s.writeReport(job.o.report); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("--report: %w", err))
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case runErr != nil:
		return fmt.Errorf("%w (run the same command again to resume)", runErr)
	case s.Failed > 0:
		return rejectedError{rows: s.Failed}
	}
	return nil
}

// markerField checks --marker-field: a text custom field that no column of
// the file fills. It returns the field's field_name.
func markerField(cat *mapping.Catalog, header []string, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	f, err := cat.Lookup(name)
	if err != nil {
		return "", usageError{fmt.Errorf("--marker-field: %w", err)}
	}
	if f.ContentType != udesk.TypeText && f.ContentType != udesk.TypeAreaText {
		return "", usagef("--marker-field %s is a %s field; it must be a text field", name, f.ContentType)
	}
	for _, h := range header {
		if g, err := cat.Lookup(h); err == nil && g.Name == f.Name {
			return "", usagef("--marker-field %s is also the file's column %q; choose a field the file does not fill", name, h)
		}
	}
	return f.Name, nil
}

// defaultResultsDir is a folder beside the input named after it, the
// operation and the time: tickets.create-results-20261127-171500.
func defaultResultsDir(input, what string, t time.Time) string {
	stem := strings.TrimSuffix(filepath.Base(input), filepath.Ext(input))
	return filepath.Join(filepath.Dir(input), fmt.Sprintf("%s.%s-%s", stem, what, t.Format("20060102-150405")))
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

func newRunID(t time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return t.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}
