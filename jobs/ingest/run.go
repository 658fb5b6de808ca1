package ingest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/listing"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// API is the part of the Udesk client a job uses; *udesk.Client implements it.
type API interface {
	listing.API // the key index and a settle's lookups read listings
	CreateTicket(ctx context.Context, t *udesk.NewTicket) (int64, error)
	UpdateTicket(ctx context.Context, id int64, u *udesk.TicketUpdate) error
	Reply(ctx context.Context, r *udesk.Reply) error
}

// Options configure Run and Plan.
type Options struct {
	Op mapping.OpKind // what each row becomes: mapping.Create, Update or Reply
	// Tenant is the tenant's URL as the user gave it: with the input, the
	// operation, the sheet and the mapping file it names the state folder,
	// so that the same import of the same file resumes.
	Tenant string
	// Results is the folder for success.csv and errors.csv; "" is a folder
	// beside the input named after it, the operation and the first run's time.
	Results string
	// Fresh discards the saved state of this import and starts over.
	Fresh bool
	// ResendUnknown sends again the rows whose outcome is unknown (may
	// duplicate a reply or comment).
	ResendUnknown bool
	// MarkerField, for creates, names a text custom field that receives a
	// unique marker per row, used to find a create whose outcome is unknown.
	MarkerField string
	// UpsertKey makes the import an upsert (see upsert.go), keyed by this
	// text custom field (field_name or label); Op is then ignored.
	UpsertKey string
	// Limit, when above 0, handles only the first Limit rows; the same
	// import without it continues after them (it is not part of the job).
	Limit int
	// NewRowsOnly, for creates, creates only the rows whose id cell is empty
	// (the rows added to an exported sheet) and leaves the others alone.
	// Without it a create refuses a file whose ids are this tenant's tickets.
	NewRowsOnly bool
	// Registry is a folder recording where each import's state folder is,
	// by the import's identity (tenant, operation, sheet, the contents of
	// the input and of the mapping file), so that the same rows in a copy of
	// the input in another folder are the same job (resumed, refused while it
	// runs, or reported as finished); the command line uses
	// pipeline.UserRegistry(). "": only the state folders beside the input
	// are looked in, under any file name (a hard link, a renamed copy).
	Registry string
	// Rollback, for a plain --update, reads each ticket before the first
	// update is sent, to save what it overwrites in rollback.csv (an upsert
	// and a round trip know it without reading).
	Rollback bool
	Edit     EditOptions
	// Abort, when set, ends the writes already sent; Run's context then
	// only stops sending new ones, and those on the wire get their outcome
	// (the first Ctrl-C stops, the second aborts). Nil: Run's context does both.
	Abort       context.Context
	Concurrency int               // writes in flight at most (default 1)
	Observer    pipeline.Observer // progress and log lines (default pipeline.Quiet)
}

// open refuses options that contradict each other, then opens the input.
func (o Options) open(in Input) (*inputFile, *mapping.MappingFile, error) {
	switch {
	case o.UpsertKey != "" && (o.MarkerField != "" || o.Edit != EditOptions{}):
		return nil, nil, pipeline.Configf("--upsert: the key settles creates and the tickets are the originals; --marker-field and the round-trip options do not apply")
	case o.MarkerField != "" && o.Op != mapping.Create:
		return nil, nil, pipeline.Configf("--marker-field applies to --create only")
	case o.Rollback && (o.Op != mapping.Update || o.UpsertKey != ""):
		return nil, nil, pipeline.Configf("--rollback applies to --update (an upsert writes rollback.csv without it)")
	case o.NewRowsOnly && (o.Op != mapping.Create || o.UpsertKey != ""):
		return nil, nil, pipeline.Configf("--new-rows-only applies to --create only")
	case o.Limit < 0:
		return nil, nil, pipeline.Configf("--limit %d: want a number of rows above 0", o.Limit)
	}
	f, mf, err := openInput(in)
	if f != nil {
		f.limit = o.Limit
	}
	return f, mf, err
}

// opName names the operation in the state folder and the results folder.
func (o Options) opName() string {
	if o.UpsertKey != "" {
		return "upsert"
	}
	return o.Op.String()
}

func (o Options) observer() pipeline.Observer {
	if o.Observer == nil {
		return pipeline.Quiet{}
	}
	return o.Observer
}

// Report is what Run did. Rows Udesk or the mapping refused are in Failed
// (and errors.csv), not in Run's error.
type Report struct {
	pipeline.Report
	// AlreadyImported is set when an earlier run completed this import and
	// its results are in place: nothing was read or sent, and Written and
	// Failed are that run's.
	AlreadyImported bool `json:"-"`
}

// InputChangedError refuses to resume an import whose input changed since
// its journal began; Run returns it inside a *pipeline.ConfigError.
type InputChangedError struct {
	Input, StateDir string
	Sent, Written   int // rows of the journal with an entry, and written
}

func (e *InputChangedError) Error() string {
	return fmt.Sprintf("%s changed since the import in %s started (%d rows already sent, %d written); run with --fresh to import it again as a new file (every row is sent again), or restore the file to resume",
		e.Input, e.StateDir, e.Sent, e.Written)
}

// Run imports input: one write per row, exactly once across crashes and
// re-runs (see the package comment). It returns the report, also with an
// error once the job began; the error is a *pipeline.ConfigError when the
// input, the options or the saved state must be fixed first, ctx's error
// when interrupted (the state is kept: run again to resume), else what
// stopped the sending. Rejected rows are counted in Report.Failed.
func Run(ctx context.Context, api API, input Input, opts Options) (*Report, error) {
	start := time.Now()
	f, mf, err := opts.open(input)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	job := &job{api: api, in: input, o: opts, obs: opts.observer(), f: f, start: start}
	done, err := job.openState()
	if job.unlock != nil {
		defer job.unlock()
	}
	if err != nil {
		return nil, err
	}
	if done {
		return job.alreadyImported(), nil
	}
	if job.prev == nil && opts.Results != "" {
		if err := resultsFree(opts.Results); err != nil {
			job.dropNewState()
			return nil, err
		}
	}
	cat, err := job.catalog(ctx)
	if err == nil {
		job.ops, job.ed, job.marker, err = rowOpsFor(ctx, cat, f, mf, input, opts, api, job.obs, false)
	}
	if err != nil {
		job.dropNewState()
		return nil, err
	}
	if err := job.openJournal(); err != nil {
		return nil, err
	}
	defer job.j.Close()
	job.results = resultsDir(opts, job.st.Header)
	if err := stampResults(job.results, job.st.Header.RunID); err != nil {
		return nil, err
	}
	job.obs.Logf("results: %s", job.results)
	job.rep = &Report{Report: pipeline.Report{State: job.dir, Results: job.results}}
	f.noteReader(&job.rep.Report)
	if job.ups, _ = job.ops.(*upsertRun); job.ups != nil {
		err = job.prepareUpsert(ctx)
	} else {
		err = job.prepareRollback(ctx)
	}
	if err != nil {
		return job.rep, err
	}
	readErr, sendErr := job.send(ctx)
	return job.rep, job.finish(ctx, errors.Join(readErr, sendErr))
}

// rowOpsFor checks the input and options against the catalog and returns
// how each row becomes an operation, the round trip's edit run (nil when
// not comparing with originals) and the marker field's field_name.
func rowOpsFor(ctx context.Context, cat *mapping.Catalog, f *inputFile, mf *mapping.MappingFile, input Input, o Options, api API, obs pipeline.Observer, dry bool) (rowOps, *editRun, string, error) {
	if o.UpsertKey != "" {
		u, err := mapping.NewUpserter(cat, f.header, o.UpsertKey, mapping.ImportOptions{SelectValues: input.SelectValues, Mapping: mf})
		if err != nil {
			return nil, nil, "", &pipeline.ConfigError{Err: fmt.Errorf("%s: %w", f.path, err)}
		}
		return newUpsertRun(u, nil), nil, u.KeyField(), nil
	}
	im, err := newImporter(cat, f, o.Op, input, mf)
	if err != nil {
		return nil, nil, "", err
	}
	marker, err := markerField(cat, f.header, o.Op, o.MarkerField)
	if err != nil {
		return nil, nil, "", err
	}
	ops, ed, err := prepareEdit(o.Op, o.Edit, input.Path, f, im, api, obs, dry)
	if err != nil {
		return nil, nil, "", err
	}
	if o.Op == mapping.Create {
		if o.NewRowsOnly {
			return &newRowsOps{rowOps: ops, col: idColumn(f.header)}, ed, marker, nil
		}
		if err := checkCreateIDs(ctx, api, input, f.header, mf, obs); err != nil {
			return nil, nil, "", err
		}
	}
	return ops, ed, marker, nil
}

// FetchCatalog reads the tenant's field catalog.
func FetchCatalog(ctx context.Context, api interface {
	Fields(context.Context) ([]udesk.Field, error)
}) (*mapping.Catalog, error) {
	fields, err := api.Fields(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the field catalog: %w", err)
	}
	return mapping.NewCatalog(fields), nil
}

// job is one real (not dry) import. Run calls its steps in order:
// openState, catalog, openJournal, send, finish.
type job struct {
	api   API
	in    Input
	o     Options
	obs   pipeline.Observer
	f     *inputFile
	start time.Time

	dir      string // the state folder
	key      string // the import's identity, its key in Options.Registry
	unlock   func() // releases the state folder's lock
	inHash   string // the input's SHA-256: a resumed run refuses a changed file
	inSize   int64
	prev     *pipeline.JournalState // what an earlier run left; nil on a first run
	rerender bool                   // a finished import run again only to write its results

	ops      rowOps
	ed       *editRun
	ups      *upsertRun // an upsert's rows, nil for the other imports
	rollback rollbackInfo
	marker   string // the marker field's field_name (an upsert's key), "" without it

	j       *pipeline.Journal
	st      *pipeline.JournalState // every row's last entry when this run began
	results string                 // the results folder
	t       *tally
	rep     *Report
}

// journalName is the journal's file in the state folder.
const journalName = "journal.jsonl"

func (job *job) journalPath() string { return filepath.Join(job.dir, journalName) }

// openState locks the state folder (emptied first when Fresh) and reads the
// journal an earlier run of the same import left there. done is true when
// that run finished and there is nothing left to do. The lock is held until
// Run returns (job.unlock), so a second run of the same import at the same
// time stops here with a *pipeline.LockedError.
func (job *job) openState() (done bool, err error) {
	o, in := job.o, job.in
	if job.inHash, job.inSize, err = fileSHA256(in.Path); err != nil {
		return false, err
	}
	if job.dir, err = job.stateDir(); err != nil {
		return false, err
	}
	if job.unlock, err = pipeline.LockStateDir(job.dir); err != nil {
		return false, err
	}
	reg := pipeline.Registry(o.Registry)
	if reg.Lookup(job.key) == "" {
		if err := reg.Register(job.key, job.dir); err != nil {
			job.obs.Logf("%v (a copy of %s in another folder would not be known as the same import)", err, in.Path)
		}
	}
	if o.Fresh {
		if err := pipeline.ClearStateDir(job.dir); err != nil {
			return false, fmt.Errorf("--fresh: clearing %s: %w", job.dir, err)
		}
	}
	pipeline.RemoveTemps(job.dir) // a killed run's half-written catalog
	job.obs.Logf("state: %s", job.dir)
	prev, err := pipeline.ReadJournal(job.journalPath())
	if errors.Is(err, os.ErrNotExist) {
		if o.Fresh {
			return false, nil
		}
		return false, job.refuseChangedInput()
	}
	if err != nil {
		return false, fmt.Errorf("%w (the import's state is damaged; run with --fresh to start over, which may send rows again)", err)
	}
	if o.UpsertKey != "" && prev.Complete {
		// An upsert sends only what differs: the same file again is a new
		// run against the tickets as they are now.
		job.obs.Logf("the previous upsert of %s finished; starting a new one (only what differs from the tickets is sent)", in.Path)
		return false, pipeline.ClearStateDir(job.dir) // not the lock: this run holds it
	}
	job.prev = prev
	return job.checkPrevious()
}

// stateDir names the import's state folder. An import is the same job
// whatever the spelling of the tenant's URL or the name and place of the
// input: it is keyed by the tenant (pipeline.TenantKey), the operation, the
// sheet, and the contents of the input and of the mapping file, and sits
// beside the input's real path. The same rows under another name (a hard
// link, a renamed copy) find the state folder beside them by its key, and a
// copy in another folder finds it in Options.Registry. A folder an older
// release keyed by the URL and paths as given is used while it holds this
// input's journal, so that its import resumes.
func (job *job) stateDir() (string, error) {
	in, op := job.in, job.o.opName()
	kind := "import-" + op
	mapHash := ""
	if in.MappingFile != "" {
		var err error
		if mapHash, _, err = fileSHA256(in.MappingFile); err != nil {
			return "", err
		}
	}
	parts := []string{pipeline.TenantKey(job.o.Tenant), op, in.Sheet, job.inHash, mapHash}
	key := pipeline.JobKey(parts...)
	job.key = kind + "-" + key
	dir := pipeline.StateDir(pipeline.RealPath(in.Path), kind, parts...)
	if _, err := os.Stat(filepath.Join(dir, journalName)); err == nil {
		return dir, nil
	}
	legacy := pipeline.StateDir(in.Path, kind, job.o.Tenant, pipeline.AbsPath(in.Path), op, in.Sheet, pipeline.AbsPath(in.MappingFile))
	if st, err := pipeline.ReadJournal(filepath.Join(legacy, journalName)); err == nil && st.Header.InputSHA256 == job.inHash {
		return legacy, nil
	}
	suffix := "." + kind + "-" + key[:12]
	entries, _ := os.ReadDir(filepath.Dir(dir))
	for _, e := range entries {
		if other := filepath.Join(filepath.Dir(dir), e.Name()); e.IsDir() && strings.HasSuffix(e.Name(), suffix) && other != dir {
			job.obs.Logf("%s holds the same rows as the import in %s: the same job", in.Path, other)
			return other, nil
		}
	}
	if other := pipeline.Registry(job.o.Registry).Lookup(job.key); other != "" && strings.HasSuffix(filepath.Base(other), suffix) {
		job.obs.Logf("%s holds the same rows as the import in %s: the same job", in.Path, other)
		return other, nil
	}
	return dir, nil
}

// refuseChangedInput is a first run's check that no other state folder
// beside it holds a journal of this import of the same file, the same sheet
// and tenant, with other contents: the file changed since it was imported (or
// began to be), and importing it as new would send its unchanged rows again.
func (job *job) refuseChangedInput() error {
	real := pipeline.RealPath(job.in.Path)
	prefix := strings.TrimSuffix(filepath.Base(real), filepath.Ext(real)) + ".import-" + job.o.opName() + "-"
	entries, _ := os.ReadDir(filepath.Dir(job.dir))
	for _, e := range entries {
		other := filepath.Join(filepath.Dir(job.dir), e.Name())
		if !strings.HasPrefix(e.Name(), prefix) || other == job.dir {
			continue
		}
		st, err := pipeline.ReadJournal(filepath.Join(other, journalName))
		if err != nil || st.Header.InputSHA256 == job.inHash || (job.o.UpsertKey != "" && st.Complete) {
			continue // a finished upsert is run again against the tickets as they are
		}
		h := st.Header
		input := h.Meta["input"]
		if input == "" { // an older release's journal: the input as given
			input = pipeline.RealPath(h.Input)
		} else if h.Meta["tenant"] != pipeline.TenantKey(job.o.Tenant) || h.Meta["sheet"] != job.in.Sheet {
			continue
		}
		if input == real {
			return &pipeline.ConfigError{Err: &InputChangedError{Input: job.in.Path, StateDir: other, Sent: len(st.Rows), Written: st.Count(pipeline.EntryOK)}}
		}
	}
	return nil
}

// dropNewState removes the state folder openState made for a first run that
// failed before its journal began (a wrong secret, a column the catalog does
// not know): there is nothing to resume, only the cached catalog.
func (job *job) dropNewState() {
	if _, err := os.Stat(job.journalPath()); job.prev == nil && errors.Is(err, os.ErrNotExist) {
		os.RemoveAll(job.dir)
		os.Remove(filepath.Dir(job.dir)) // the .udesk-etl folder, when nothing else is in it
	}
}

// fileSHA256 hashes the input so that a resumed import can tell whether it
// changed since the journal was started.
func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, &pipeline.ConfigError{Err: err}
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, pipeline.Configf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// checkPrevious refuses to resume on a changed input, and stops a re-run of
// a finished import unless it has rows to resend or results to write again.
func (job *job) checkPrevious() (done bool, err error) {
	o, prev := job.o, job.prev
	written := prev.Count(pipeline.EntryOK)
	if prev.Header.InputSHA256 != job.inHash {
		return false, &pipeline.ConfigError{Err: &InputChangedError{Input: job.in.Path, StateDir: job.dir, Sent: len(prev.Rows), Written: written}}
	}
	finished := prev.Complete && !(o.ResendUnknown && prev.Count(pipeline.EntryUnknown) > 0)
	if !finished {
		return false, nil
	}
	// A crash between the complete marker and the results files leaves them
	// missing: the re-run renders them again from the journal.
	if results := resultsDir(o, prev.Header); !resultsWritten(results) {
		job.rerender = true
		job.obs.Logf("%s was already imported, but its results are missing from %s: writing them again from the saved state", job.in.Path, results)
		return false, nil
	}
	return true, nil
}

// alreadyImported is the report of a re-run of a finished import: the
// counts of the run that finished it, so that a caller can tell the user
// again that rows were rejected.
func (job *job) alreadyImported() *Report {
	prev, results := job.prev, resultsDir(job.o, job.prev.Header)
	failed, err := rejectedRows(results)
	if err != nil { // the journal knows at least the rows Udesk refused
		failed = int64(prev.Count(pipeline.EntryFail) + prev.Count(pipeline.EntryUnknown))
	}
	written := prev.Count(pipeline.EntryOK)
	job.obs.Logf("%s was already imported (%d rows written, %d failed, of which %d outcome unknown; started %s); results in %s\nuse --fresh to import it again",
		job.in.Path, written, failed, prev.Count(pipeline.EntryUnknown), prev.Header.Started.Local().Format("2006-01-02 15:04:05"), results)
	return &Report{Report: pipeline.Report{State: job.dir, Results: results, Written: int64(written), Failed: failed},
		AlreadyImported: true}
}

// catalog is the field catalog the rows are checked against: a resumed run
// uses the one saved with the state, so that every row of an import is
// checked the same way; a first run reads it and saves it.
func (job *job) catalog(ctx context.Context) (*mapping.Catalog, error) {
	path := filepath.Join(job.dir, "fields.json")
	if job.prev != nil {
		cat, err := mapping.LoadCatalog(path)
		if err != nil {
			return nil, fmt.Errorf("the saved field catalog: %w (run with --fresh to start over)", err)
		}
		return cat, nil
	}
	fields, err := job.api.Fields(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the field catalog: %w", err)
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
// resumed run must use the same marker field: the markers of its creates
// are how the sender finds those whose outcome is unknown.
func (job *job) openJournal() error {
	o, path := job.o, job.journalPath()
	if job.prev == nil {
		results := o.Results
		if results == "" {
			results = unusedResultsDir(defaultResultsDir(job.in.Path, o.opName()+"-results", job.start))
		}
		h := pipeline.JournalHeader{Op: o.opName(), RunID: newRunID(job.start), Input: job.in.Path, InputSHA256: job.inHash, InputSize: job.inSize,
			Started: job.start, Meta: map[string]string{"results": pipeline.AbsPath(results), "marker_field": job.marker,
				"input": pipeline.RealPath(job.in.Path), "tenant": pipeline.TenantKey(o.Tenant), "sheet": job.in.Sheet}}
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
		flag, now := "--marker-field", o.MarkerField
		if o.UpsertKey != "" {
			flag, now = "--key", o.UpsertKey
		}
		return pipeline.Configf("%s %q differs from the interrupted run's %q; use the same, or --fresh", flag, now, m)
	}
	job.obs.Logf("resuming: %d rows written, %d in doubt (checked before anything is resent)",
		st.Count(pipeline.EntryOK), st.Count(pipeline.EntryIntent))
	job.j, job.st = j, st
	return nil
}

// resultsDir is where success.csv and errors.csv go: Options.Results, else
// the folder the import's first run chose.
func resultsDir(o Options, h pipeline.JournalHeader) string {
	if o.Results != "" {
		return o.Results
	}
	return h.Meta["results"]
}

// send reads every row and hands those without an outcome yet to the
// sender, which journals each write. It returns the error that stopped the
// reading, if any, and the sender's.
func (job *job) send(ctx context.Context) (readErr, sendErr error) {
	st := job.st
	prog := job.obs.Phase("import", "rows", 0)
	free := job.ed.unchangedRows()
	defer countRows(ctx, job.in, prog, job.o.Limit, free)()
	t := newTally(prog)
	t.freeUnchanged = free != nil
	job.t = t
	// Settling an unknown create must never take a ticket that an earlier
	// run created for another row.
	var claimed []int64
	for _, e := range st.Rows {
		if e.Type == pipeline.EntryOK && e.Action == ActionCreated {
			claimed = append(claimed, e.TicketID)
		}
	}
	snd := startSender(ctx, job.api, senderOptions{journal: job.j, concurrency: job.o.Concurrency, markerField: job.marker,
		runID: st.Header.RunID, onResult: t.onResult, abort: job.o.Abort}, claimed)
	job.rep.Read, readErr = mapRows(ctx, job.f, job.ops, t, rowSteps{
		settled: func(rec pipeline.Record) bool {
			if s, ok := job.ops.(interface{ saw(pipeline.Record) }); ok {
				s.saw(rec)
			}
			prior, seen := st.Rows[rec.Pos.Row]
			return seen && job.replay(rec, prior)
		},
		emit: func(rec pipeline.Record, op mapping.Operation) error {
			t.sending(rec.Pos.Row, rec.Cells)
			if err := snd.send(op, st.Rows[rec.Pos.Row]); err != nil {
				return errStop // close reports why
			}
			return nil
		},
	})
	sendErr = snd.close()
	t.void(snd.voidedCount())
	prog.Finish()
	return readErr, sendErr
}

// replay reports a row whose outcome an earlier run journaled, and says
// whether that settles it: written and refused rows are never sent again,
// rows of unknown outcome only with ResendUnknown.
func (job *job) replay(rec pipeline.Record, prior pipeline.JournalEntry) bool {
	row := rec.Pos.Row
	switch prior.Type {
	case pipeline.EntryOK:
		job.t.writtenEarlier(prior, rec.Cells)
		return true
	case pipeline.EntryFail:
		job.t.fail(row, rec.Cells, prior.Code, fmt.Sprintf("row %d: %s", row, prior.Message))
		return true
	case pipeline.EntryUnknown:
		if !job.o.ResendUnknown {
			job.t.fail(row, rec.Cells, prior.Code, fmt.Sprintf("row %d: %s", row, prior.Message))
			return true
		}
	}
	return false
}

// finish writes the results, marks the journal complete once every row has
// an outcome, and fills in the report. runErr is what stopped sending.
func (job *job) finish(ctx context.Context, runErr error) error {
	t, rep := job.t, job.rep
	// Rows sent but still without an outcome (interrupted, or still in
	// doubt after several resends) keep the journal open for the next run.
	open := t.inFlight()
	if open > 0 && runErr == nil && ctx.Err() == nil {
		runErr = fmt.Errorf("the import stopped with %d rows still in doubt (sent, but Udesk's reply never came); they are checked before anything is sent again", open)
	}
	// The results go first: a crash before the complete marker leaves a
	// run that renders them again.
	if err := t.writeResults(job.results, job.f.header); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if open == 0 && ctx.Err() == nil {
		runErr = errors.Join(runErr, job.narrowRollback())
	}
	if runErr == nil && ctx.Err() == nil && open == 0 && !job.rerender && !job.f.cut {
		if err := job.j.Append(pipeline.JournalEntry{Type: pipeline.EntryComplete}); err != nil {
			runErr = err
		}
	}
	t.summarize(&rep.Report)
	if err := job.ed.finish(&rep.Report); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if job.ups != nil {
		job.ups.finish(&rep.Report, job.t)
	}
	job.rollback.note(&rep.Report)
	if n, ok := job.ops.(*newRowsOps); ok {
		n.note(&rep.Report)
	}
	if job.f.cut {
		rep.Note("--limit %d: the first %d rows were handled; run the same command without --limit to continue after them", job.o.Limit, job.o.Limit)
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case runErr != nil:
		return fmt.Errorf("%w (run the same command again to resume)", runErr)
	}
	return nil
}

// markerField checks the marker field: a text custom field that no column
// of the file fills. It returns the field's field_name.
func markerField(cat *mapping.Catalog, header []string, op mapping.OpKind, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	f, err := cat.Lookup(name)
	if err != nil {
		return "", pipeline.Configf("--marker-field: %w", err)
	}
	if f.ContentType != udesk.TypeText && f.ContentType != udesk.TypeAreaText {
		return "", pipeline.Configf("--marker-field %s is a %s field; it must be a text field", name, f.ContentType)
	}
	for _, h := range header {
		if g, err := cat.Lookup(h); err == nil && g.Name == f.Name {
			return "", pipeline.Configf("--marker-field %s is also the file's column %q; choose a field the file does not fill", name, h)
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

// unusedResultsDir is dir, or dir-2, dir-3... when a run of the same second
// has it: each run's results folder is its own.
func unusedResultsDir(dir string) string {
	try := dir
	for n := 2; ; n++ {
		if _, err := os.Lstat(try); errors.Is(err, os.ErrNotExist) {
			return try
		}
		try = fmt.Sprintf("%s-%d", dir, n)
	}
}

func newRunID(t time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return t.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}
