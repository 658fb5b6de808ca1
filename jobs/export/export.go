// Package export is the export job: it reads the tickets a Selector names
// out of Udesk and writes them, each once, to Parquet, XLSX, CSV and JSON
// lines files, resumably.
//
// The package owns every invariant of the job: the state folder (a spool of
// the API's replies and a manifest, compatible across versions so that an
// interrupted export of an older release resumes), the field catalog read
// once per snapshot, the passes over a listing that changes while it is read
// and their checks (with the lookup by id of the ids they cannot account
// for), the deduplication by ticket id, the outputs written in
// one pass through pipeline.Tee (with the original rows kept for round-trip
// editing) and committed before the snapshot is marked complete.
//
// Run is the whole job, Plan its dry run; progress, log lines and warnings
// go to the Options' Observer, and warnings to the report's notes too. An
// error a rerun resumes from is a *pipeline.ResumableError. Messages may
// name the command line's flags (see package pipeline).
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/listing"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// API is what an export asks of Udesk; *udesk.Client is one.
type API interface {
	listing.API
	// Filters lists the ticket filters (as an agent, when set), to warn
	// when the selector's filter is inactive.
	Filters(ctx context.Context, agentID int64) ([]udesk.Filter, error)
}

// Selector says which tickets an export reads: a listing (every ticket, a
// filter's, a customer's) or, when IDs is set, those tickets one by one.
type Selector struct {
	Listing udesk.Listing
	IDs     []int64
}

// String describes the selector; it is also the selector's part of the
// state key, so two exports share state only when they select the same.
func (s Selector) String() string {
	if s.IDs == nil {
		return listing.Describe(s.Listing)
	}
	ids := make([]string, len(s.IDs))
	for i, id := range s.IDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	return "ids " + strings.Join(ids, ",")
}

// Options say what to export, where to, and how.
type Options struct {
	Selector Selector
	// Tenant names the Udesk tenant (its URL, any password masked) in the
	// state key (as pipeline.TenantKey spells it) and the manifest, so that
	// two tenants never share state.
	Tenant string
	// Outputs are the files to write, the format by extension (.parquet,
	// .xlsx, .csv, .jsonl or .ndjson); "-" writes JSON lines to Stdout.
	Outputs []string
	Stdout  io.Writer

	Headers      string // custom field headers: mapping.HeadersLabels (default) or mapping.HeadersNames
	SelectValues string // select values: mapping.SelectLabels (default) or mapping.SelectIndexes
	NoBOM        bool   // CSV files without the UTF-8 byte order mark
	// NoFormulaEscape writes CSV text as it is, without the ' before text a
	// spreadsheet would run as a formula (sinks.CSVOptions.NoFormulaEscape).
	NoFormulaEscape bool
	// NoOriginals leaves out the rows as written (a hidden sheet in .xlsx,
	// a copy beside a .csv) that let an edited file be imported as changes.
	NoOriginals bool

	Fresh       bool              // discard the state of an interrupted run and start over
	StateDir    string            // the state folder (default: pipeline.StateDir beside the first output file)
	Concurrency int               // requests in flight (default 4); the client caps and paces them
	Observer    pipeline.Observer // progress and log lines (default: pipeline.Quiet)
}

// outputExts are the formats an export writes, by file extension.
var outputExts = map[string]bool{".parquet": true, ".xlsx": true, ".csv": true, ".jsonl": true, ".ndjson": true}

// Validate checks the options before any request is made; its errors are
// *pipeline.ConfigError.
func (o *Options) Validate() error { return o.validate(true) }

// validate checks the options; without needOutputs (a plan, which
// writes nothing) the outputs may be left out.
func (o *Options) validate(needOutputs bool) error {
	if len(o.Outputs) == 0 && needOutputs {
		return pipeline.Configf("no output: name a .parquet, .xlsx, .csv or .jsonl file (- for JSON lines on stdout)")
	}
	seen := map[string]bool{}
	for _, out := range o.Outputs {
		key := pipeline.RealPath(out)
		if seen[key] {
			return pipeline.Configf("-o %s is given twice", out)
		}
		seen[key] = true
		if out == "-" {
			if o.Stdout == nil {
				return pipeline.Configf("output - (JSON lines on stdout) needs a Stdout writer")
			}
			continue
		}
		if ext := strings.ToLower(filepath.Ext(out)); !outputExts[ext] {
			return pipeline.Configf("-o %s: unknown format %q (want .parquet, .xlsx, .csv or .jsonl, or - for JSON lines on stdout)", out, ext)
		}
		if fi, err := os.Stat(filepath.Dir(out)); err != nil || !fi.IsDir() {
			return pipeline.Configf("-o %s: the folder %s does not exist", out, filepath.Dir(out))
		}
	}
	switch o.Headers {
	case "", mapping.HeadersLabels, mapping.HeadersNames:
	default:
		return pipeline.Configf("--headers %q: want labels or names", o.Headers)
	}
	switch o.SelectValues {
	case "", mapping.SelectLabels, mapping.SelectIndexes:
	default:
		return pipeline.Configf("--select-values %q: want labels or indexes", o.SelectValues)
	}
	return nil
}

// IncompleteError is returned, with the report, when an export of every
// ticket cannot show that it holds every ticket that existed throughout: the
// listing changed while it was read and more ids than the lookup budget are
// unaccounted for. The outputs hold what was read.
type IncompleteError = listing.IncompleteError

// NotFoundError is returned, with the report, when ids of an IDs selector
// are unknown to Udesk; the others were exported, and the report's notes
// name the missing ones.
type NotFoundError struct {
	IDs []int64 // the ids not found
	Of  int     // how many ids were asked for
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%d of the %d ids were not found (listed in the summary); the others were exported", len(e.IDs), e.Of)
}

// manifest describes a snapshot in its state folder (never the secret).
// Its fields and names are the state's format: change them only compatibly.
type manifest struct {
	Version     int        `json:"version"`
	URL         string     `json:"url"`
	Selector    string     `json:"selector"`
	PerPage     int        `json:"per_page"`
	StartedAt   time.Time  `json:"started_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	Outputs     []string   `json:"outputs,omitempty"`
	Passes      int        `json:"passes,omitempty"`
	StartTotal  int        `json:"total_at_start,omitempty"`
	EndTotal    int        `json:"total_at_end,omitempty"`
	Tickets     int        `json:"tickets_written,omitempty"`
}

const (
	manifestFile = "manifest.json"
)

// Run exports the tickets opts.Selector names into opts.Outputs. A run that
// fails or is cancelled keeps its state: the same call again resumes it,
// fetching only what is not held yet. The report is returned whenever the
// state folder was opened (with the error too), so that a caller can name
// the folder.
func Run(ctx context.Context, api API, opts Options) (*pipeline.Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := &opts
	o.Observer = o.observer()
	dir := o.StateDir
	if dir == "" {
		// Beside the first output file (the working folder when the only
		// output is stdout).
		beside := o.Outputs[0]
		for _, out := range o.Outputs {
			if out != "-" {
				beside = out
				break
			}
		}
		dir = stateDir(beside, o.Tenant, o.Selector.String())
	}
	spool, resumed, err := pipeline.OpenSpool(dir, o.Fresh)
	if err != nil {
		return nil, fmt.Errorf("state folder: %w", err)
	}
	defer spool.Close()
	held, err := spool.Pages()
	if err != nil {
		return nil, fmt.Errorf("state folder %s: %w", dir, err)
	}
	if d := spool.Discarded(); d != "" {
		o.Observer.Logf("export: state folder %s was left by an earlier version (one file per page), which this one does not read: starting over", d)
	}
	if resumed {
		o.Observer.Logf("export: state folder %s (resuming: %d pages held)", spool.Dir(), len(held))
	} else if !onlyStdout(o.Outputs) { // stdout's state is kept only when the run fails: named then
		o.Observer.Logf("export: state folder %s (new snapshot)", spool.Dir())
	}
	rep := &pipeline.Report{State: spool.Dir(), Outputs: o.Outputs}
	err = run(ctx, api, o, spool, rep)
	if pages, _ := spool.Pages(); (err != nil && !resumed && len(pages) == 0) || (err == nil && onlyStdout(o.Outputs)) {
		// Nothing to resume (the run failed before it held a page: a wrong
		// secret, an unknown filter) or to edit and import back (stdout):
		// leave no state behind.
		// Removed while still locked, so that no run that comes meanwhile
		// locks a file about to go.
		dropState(spool.Dir(), dir)
		spool.Close()
		rep.State = ""
	}
	return rep, resumable(err, rep.State)
}

// observer is the Options' Observer, pipeline.Quiet when none is set.
func (o *Options) observer() pipeline.Observer {
	if o.Observer == nil {
		return pipeline.Quiet{}
	}
	return o.Observer
}

// resumable wraps err in a *pipeline.ResumableError when the state it
// leaves lets the same call again go on: not when the API refused (a rerun
// would be refused too), the options are wrong, or the outputs are written
// and only their completeness or some ids are in question.
func resumable(err error, state string) error {
	var ue *udesk.Error
	switch {
	case err == nil, state == "",
		errors.As(err, new(*IncompleteError)), errors.As(err, new(*NotFoundError)),
		errors.As(err, new(*pipeline.ConfigError)), errors.As(err, &ue) && ue.Class == udesk.Permanent:
		return err
	}
	return &pipeline.ResumableError{Err: err, State: state}
}

func onlyStdout(outputs []string) bool {
	for _, out := range outputs {
		if out != "-" {
			return false
		}
	}
	return true
}

// dropState removes the snapshot folder snap, and its state folder dir and
// the .udesk-etl folder above it when nothing else is left in them.
func dropState(snap, dir string) {
	os.RemoveAll(snap)
	if entries, err := os.ReadDir(dir); err == nil && len(entries) == 1 && entries[0].Name() == "lock" {
		os.Remove(filepath.Join(dir, "lock"))
		os.Remove(dir)
	}
	os.Remove(filepath.Dir(dir))
}

// stateDir is an export's state folder: beside the real path of its first
// output file, keyed by the tenant (pipeline.TenantKey) and the selector,
// so that the same export resumes whatever the spelling of the URL or of the
// output's path. For a URL written as the tenant key writes it, this is the
// folder earlier releases used; a folder an older release keyed by another
// spelling of the URL is used while it exists.
func stateDir(beside, tenant, selector string) string {
	dir := pipeline.StateDir(pipeline.RealPath(beside), "export", pipeline.TenantKey(tenant), selector)
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	if legacy := pipeline.StateDir(beside, "export", tenant, selector); legacy != dir {
		if _, err := os.Stat(legacy); err == nil {
			return legacy
		}
	}
	return dir
}

func run(ctx context.Context, api API, o *Options, spool *pipeline.Spool, rep *pipeline.Report) error {
	man, err := loadOrStartManifest(spool, o.Tenant, o.Selector.String())
	if err != nil {
		return err
	}
	if err := warnInactiveFilter(ctx, api, o.Selector, o.Observer, rep); err != nil {
		return err
	}

	prog := o.Observer.Phase("export", "tickets", 0)
	x := listing.NewReader(spool, o.Selector.Listing, o.Selector.IDs, o.Concurrency)
	x.Name = o.Selector.String()
	x.Since = man.StartedAt
	hooks := listing.Hooks{
		OnPass: func(pass, max int) {
			o.Observer.Logf("export: the listing changed while it was read; reading it again (pass %d of at most %d)", pass, max)
		},
	}
	var live *liveRender
	// Not for --ids (one request per id: the fetch is the whole run), nor
	// with stdout among the outputs: what it was given cannot be taken back
	// when the listing is read again.
	if o.Selector.IDs == nil && !slices.Contains(o.Outputs, "-") {
		live = startLive(ctx, o, x)
		hooks.OnCatalog = live.catalog
	}
	res, fields, err := x.FetchWithCatalog(ctx, api, prog, hooks)
	var acc *listing.Completeness
	if err == nil {
		acc, err = x.Complete(ctx, res)
	}
	if err != nil {
		if live != nil {
			live.stop()
		}
		return err
	}
	var rs listing.RenderStats
	var stats outputStats
	rendered := false
	if live != nil {
		rs, stats, rendered, err = live.finish(res, func() pipeline.Progress {
			return o.Observer.Phase("write", "tickets", int64(res.Total))
		})
		if err != nil {
			return err
		}
	}
	if !rendered {
		if rs, stats, err = writeOutputs(ctx, o, x, fields, res.Total); err != nil {
			return err
		}
	}

	now := time.Now().UTC()
	man.CompletedAt, man.Outputs = &now, o.Outputs
	man.Passes, man.StartTotal, man.EndTotal, man.Tickets = res.Passes, res.StartTotal, res.Total, rs.Unique
	if err := writeManifest(spool, man); err != nil {
		return err
	}
	if err := spool.Complete(); err != nil {
		return fmt.Errorf("marking %s complete: %w", spool.Dir(), err)
	}
	return fillReport(rep, o, x, res, rs, stats, acc)
}

func loadOrStartManifest(spool *pipeline.Spool, tenant, selector string) (*manifest, error) {
	b, err := spool.ReadFile(manifestFile)
	if err == nil {
		var m manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %w (pass --fresh to start over)", filepath.Join(spool.Dir(), manifestFile), err)
		}
		if pipeline.TenantKey(m.URL) != pipeline.TenantKey(tenant) || m.Selector != selector || m.PerPage != udesk.PageSize {
			return nil, fmt.Errorf("%s belongs to another export (%s of %s); pass --fresh to start over",
				spool.Dir(), m.Selector, m.URL)
		}
		return &m, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	m := &manifest{Version: 1, URL: tenant, Selector: selector, PerPage: udesk.PageSize, StartedAt: time.Now().UTC()}
	return m, writeManifest(spool, m)
}

func writeManifest(spool *pipeline.Spool, m *manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return spool.WriteFile(manifestFile, append(b, '\n'))
}
