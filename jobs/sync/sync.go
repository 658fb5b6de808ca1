// Package sync is the sync job: it lists a tenant's tickets the export's
// way (a spool of pages read in checked passes, resumable) and commits them
// to a dataset (jobs/dataset) as one run: the snapshot, its changes
// since the previous run and the field history.
//
// A full run lists every ticket of the selector and looks up by id the
// previous snapshot's tickets the listing did not return, so that a delete
// is recorded only when the API confirms it. A changed-filter run lists a
// saved filter of recently updated tickets and merges it into the previous
// snapshot; it detects no deletes, and it refuses to guess: it fails unless
// the filter reaches back to the previous run's start (see Options).
//
// The run's state (the spool and the run's start, which names the run) is a
// local folder, locked while a run uses it, so an interrupted run resumes
// as the same run. A run holds a lease on the dataset (dataset.Lease) from
// before it reads any state, so two runs of one dataset never overlap, from
// any machine, and a run that lost its lease commits nothing. For a dataset
// in a bucket the state is also written beside it, as the run goes
// (remote.go), and the local folder is only its cache: a run killed on one
// machine resumes on another.
package sync

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/jobs/listing"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// API is what a sync asks of Udesk; *udesk.Client is one.
type API = listing.API

// DefaultResumeWithin is how old an interrupted run's pages may be for a
// rerun to resume them.
const DefaultResumeWithin = 6 * time.Hour

// The schema policies of Options.Schema (dataset's, named here so that a
// caller of the job need not reach into the dataset).
const (
	SchemaEvolve = dataset.SchemaEvolve // new fields add columns (default)
	SchemaFreeze = dataset.SchemaFreeze // any drift fails the run, nothing committed
)

// Options say which tickets to sync into which dataset, and how.
type Options struct {
	// Dataset is a local folder or s3://BUCKET/PREFIX.
	Dataset string
	// Catalog, when its URL is set, registers the tables in a SQL catalog
	// and commits through it (dataset.WithCatalog).
	Catalog dataset.CatalogConfig
	// Tenant names the Udesk tenant (its URL, any password masked) in the
	// state key and the state, so that two tenants never share state.
	Tenant string
	// Listing is what a full run lists: every ticket (the zero value) or a
	// filter's.
	Listing udesk.Listing
	// ChangedFilter, when set, makes runs read only this saved filter (a
	// view of recently updated tickets) and merge it into the previous
	// snapshot. The run fails unless the filter behaves as "the tickets
	// updated since T" and T is before the previous run's start (see
	// CheckChangedFilter); a full run (without ChangedFilter) is then the
	// way on.
	ChangedFilter int64
	// FullEvery makes every FullEvery-th run a full one under ChangedFilter
	// (0: only the first).
	FullEvery int

	Headers string // new columns named by mapping.HeadersLabels (default) or mapping.HeadersNames
	Schema  string // SchemaEvolve (default) or SchemaFreeze
	Keep    int    // keep the last Keep runs' snapshots; 0 keeps all

	Fresh        bool          // discard an interrupted run's state and start over
	ResumeWithin time.Duration // resume an interrupted run whose start is at most this old (default 6h)
	StateDir     string        // the state folder (default: pipeline.StateDir beside the dataset)
	Concurrency  int           // requests in flight (default 4)
	// Rate is the run's request budget, for the plan's time estimates.
	Rate udesk.Rate
	// Requests, when set, gives the requests made so far (the client's
	// count), for the run's line in _runs.jsonl.
	Requests func() int64
	Observer pipeline.Observer // progress and log lines (default: pipeline.Quiet)
	Now      func() time.Time  // the clock (default time.Now)
	// Pause, when set, is called at each point of dataset.PausePoints and
	// at "fetched" (the listing read): a test's hook to kill a run there.
	Pause func(point string)
	// LeaseTTL is how long the run's lease on the dataset lasts unrenewed
	// (default DefaultLeaseTTL); it is renewed every third of it.
	LeaseTTL time.Duration

	guard func() error // the lease's Check, during a run
}

// Validate checks the options before any request is made; its errors are
// *pipeline.ConfigError.
func (o *Options) Validate() error {
	switch {
	case o.Dataset == "":
		return pipeline.Configf("no dataset: name a folder or s3://BUCKET/PREFIX with --dataset")
	case o.Schema != "" && o.Schema != dataset.SchemaEvolve && o.Schema != dataset.SchemaFreeze:
		return pipeline.Configf("--schema %q: want evolve or freeze", o.Schema)
	case o.Headers != "" && o.Headers != mapping.HeadersLabels && o.Headers != mapping.HeadersNames:
		return pipeline.Configf("--headers %q: want labels or names", o.Headers)
	case o.Keep < 0:
		return pipeline.Configf("--keep %d: want 0 (keep every snapshot) or more", o.Keep)
	case o.ChangedFilter < 0 || o.Listing.FilterID < 0:
		return pipeline.Configf("--filter and --changed-filter take positive ids")
	case o.FullEvery < 0:
		return pipeline.Configf("--full-every %d: want 0 or more", o.FullEvery)
	case o.FullEvery > 0 && o.ChangedFilter == 0:
		return pipeline.Configf("--full-every needs --changed-filter (without it every run is full)")
	case o.ResumeWithin < 0:
		return pipeline.Configf("--resume-within %s: want a positive duration", o.ResumeWithin)
	case o.LeaseTTL != 0 && o.LeaseTTL < time.Second:
		return pipeline.Configf("--lease-ttl %s: want 1s or more", o.LeaseTTL)
	}
	if o.Listing.CustomerEmail != "" {
		return pipeline.Configf("a sync lists every ticket or a filter's, not a customer's")
	}
	return nil
}

// Report is what a run did: the summary's counts, the run committed (its
// line in _runs.jsonl) and the drift found.
type Report struct {
	pipeline.Report
	Dataset string          `json:"dataset"`
	Run     dataset.Run     `json:"run"`
	Full    bool            `json:"full"` // a full run (else a changed-filter merge)
	Drift   []dataset.Drift `json:"-"`
}

// changedPrefix starts the selector of a changed-filter run in _runs.jsonl.
const changedPrefix = "changed "

// plan is what a run will list.
type plan struct {
	full     bool
	listing  udesk.Listing
	selector string       // the run's selector in _runs.jsonl and the state
	previous *dataset.Run // the latest committed run, nil for the first
}

func planRun(o *Options, runs []dataset.Run) plan {
	base := listing.Describe(o.Listing)
	p := plan{full: true, listing: o.Listing, selector: base}
	if len(runs) > 0 {
		p.previous = &runs[len(runs)-1]
	}
	if o.ChangedFilter == 0 || p.previous == nil {
		return p
	}
	since := 0 // changed-filter runs since the last full one
	for i := len(runs) - 1; i >= 0 && strings.HasPrefix(runs[i].Selector, changedPrefix); i-- {
		since++
	}
	if o.FullEvery > 0 && since+1 >= o.FullEvery {
		return p
	}
	l := udesk.Listing{FilterID: o.ChangedFilter}
	return plan{listing: l, previous: p.previous,
		selector: changedPrefix + listing.Describe(l) + " into " + base}
}

// Run syncs the tickets into the dataset: one run, committed whole or not
// at all. A run that fails or is cancelled keeps its state: the same call
// resumes it as the same run. The report is returned whenever the state
// folder was opened (with the error too), so that a caller can name it; an
// error a rerun resumes from is a *pipeline.ResumableError, drift under
// SchemaFreeze a *dataset.DriftError; a run another sync's commit overtook
// (*dataset.ConflictError) or that started in the future
// (*dataset.ClockError) is not resumed: the next call starts a new run.
func Run(ctx context.Context, api API, opts Options) (*Report, error) {
	rep, err := run(ctx, api, opts)
	var ue *udesk.Error
	switch {
	case errors.As(err, new(*dataset.DriftError)):
		return rep, fmt.Errorf("%w; nothing was committed (--schema freeze)", err)
	case err == nil, rep == nil, errors.As(err, new(*FilterError)), errors.As(err, new(*dataset.PublishedError)),
		errors.As(err, new(*pipeline.ConfigError)), errors.As(err, new(*dataset.ConflictError)), errors.As(err, new(*dataset.ClockError)),
		errors.As(err, new(*dataset.LeaseHeldError)), errors.As(err, new(*dataset.LeaseLostError)),
		errors.As(err, &ue) && ue.Class == udesk.Permanent:
		return rep, err
	}
	return rep, &pipeline.ResumableError{Err: fmt.Errorf("%w; nothing was committed", err), State: rep.State}
}

func run(ctx context.Context, api API, opts Options) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := &opts
	if o.Observer == nil {
		o.Observer = pipeline.Quiet{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ResumeWithin == 0 {
		o.ResumeWithin = DefaultResumeWithin
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	where := Location(o.Dataset)
	var base int64 // the requests before the run, the credential check's among its own
	if o.Requests != nil {
		base = o.Requests()
	}
	store, api, release, err := o.openLeased(ctx, api)
	if err != nil {
		return nil, err
	}
	defer release()

	dir := o.StateDir
	if dir == "" {
		dir = StateDir(where, o.Tenant, listing.Describe(o.Listing))
	}
	if err := pipeline.MakeStateDir(filepath.Dir(dir)); err != nil {
		return nil, fmt.Errorf("state folder: %w", err)
	}
	spool, resumed, err := pipeline.OpenSpool(dir, o.Fresh)
	if errors.As(err, new(*pipeline.LockedError)) {
		return nil, fmt.Errorf("another sync of %s is running: %w", where, err)
	}
	if err != nil {
		return nil, fmt.Errorf("state folder: %w", err)
	}
	defer func() { spool.Close() }()
	rep := &Report{Report: pipeline.Report{State: dir}, Dataset: where}

	owner := dataset.Owner{Tenant: pipeline.TenantKey(o.Tenant), Selector: listing.Describe(o.Listing)}
	if err := dataset.CheckOwner(ctx, store, owner); err != nil {
		return rep, err
	}
	if err := store.RepairHints(ctx); err != nil {
		return rep, err
	}
	if note, err := store.Upgrade(ctx, filepath.Dir(dir), owner); err != nil {
		return rep, err
	} else if note != "" {
		o.Observer.Logf("sync: %s", note)
	}
	runs, err := store.Published(ctx)
	if err != nil {
		return rep, err
	}
	p := planRun(o, runs)
	var remote *remoteState
	have := int64(0) // of the spool's log, what the remote state holds
	if strings.HasPrefix(where, "s3://") {
		remote = &remoteState{store: store, ctx: context.WithoutCancel(ctx), guard: o.guard}
		if o.Fresh {
			err = remote.clear()
		} else {
			resumed, have, err = o.attach(remote, spool, resumed, where, p.selector)
		}
		if err != nil {
			return rep, fmt.Errorf("the run's state in %s: %w", remote.where(), err)
		}
	}
	st, fresh, err := o.startOrResume(dir, &spool, resumed, p, where, runs)
	if err != nil {
		return rep, err
	}
	if remote != nil {
		if err := mirror(spool, remote, fresh, have); err != nil {
			return rep, fmt.Errorf("the run's state in %s: %w", remote.where(), err)
		}
	}
	if fresh {
		o.Observer.Logf("sync: state folder %s (new run %s)", spool.Dir(), dataset.RunID(st.Started))
	} else {
		o.Observer.Logf("sync: state folder %s (resuming run %s)", spool.Dir(), dataset.RunID(st.Started))
	}
	rep.Full = p.full
	if done := committed(runs, dataset.RunID(st.Started), st.UUID); done != nil && !fresh {
		// The run was published, but its state was not marked complete.
		rep.Run = *done
		rep.Note("run %s was already committed by the interrupted run", done.Run)
		return rep, finish(spool, remote, rep)
	}

	// The run's line counts the requests of every attempt that ended.
	requests := o.Requests
	if requests != nil {
		requests = func() int64 { return st.Requests + o.Requests() - base }
	}
	res, err := o.commit(ctx, api, spool, store, p, st, owner, requests, rep)
	if errors.As(err, new(*dataset.ConflictError)) || errors.As(err, new(*dataset.ClockError)) {
		// This run can never commit (another run moved the dataset on, or
		// it started in the future): the next starts a new one.
		return rep, errors.Join(err, spool.Complete(), remote.remove())
	}
	if err != nil {
		// What was fetched stays for the next attempt, here or, through
		// the state beside a bucket, on another machine. The run failed
		// already: a sync that fails too (often for the same cause) only
		// leaves less for the next attempt to skip.
		_ = spool.Sync()
		if requests != nil {
			st.Requests = requests()
			if werr := writeState(spool, st); werr != nil {
				return rep, errors.Join(err, werr)
			}
		}
		return rep, err
	}
	rep.Run, rep.Drift = res.Run, res.Drift
	if res.Already {
		rep.Note("run %s was already committed by the interrupted run", res.Run.Run)
	}
	for _, d := range res.Drift {
		rep.Note("drift: %s", d)
	}
	for _, n := range res.Notes {
		rep.Note("%s", n)
	}
	if !p.full {
		rep.Note("changed-filter run: the filter's tickets were merged into the previous snapshot; deletes are detected by full runs only")
	}
	return rep, finish(spool, remote, rep)
}

// commit fetches the run's listing and commits it to the dataset.
func (o *Options) commit(ctx context.Context, api API, spool *pipeline.Spool, store *dataset.Store, p plan, st *state, owner dataset.Owner, requests func() int64, rep *Report) (*dataset.Result, error) {
	prog := o.Observer.Phase("sync", "tickets", 0)
	// A first run has no snapshot whose tickets a skipped page would leave
	// out (they are looked up by id), so the listing's own check must show
	// it whole: it counts the tickets created since the run began, the sign
	// that deletions may have shifted pages under the read (see
	// listing.Options.Since). Later runs rely on the lookups.
	var since time.Time
	if p.previous == nil {
		since = st.Started
	}
	planned := false
	l, err := listing.FetchSpooled(ctx, api, spool, p.listing, listing.Options{
		Concurrency: o.Concurrency, Progress: prog, Since: since,
		OnTotal: func(total int) {
			if !planned {
				planned = true
				o.Observer.Logf("%s", o.planLine(p, total))
			}
		},
	})
	if err != nil {
		return nil, err
	}
	if o.Pause != nil {
		o.Pause("fetched")
	}
	if l.Held() > 0 {
		rep.Note("resumed: %d pages were already held, %d fetched now", l.Held(), l.Fetched())
	}
	if l.Passes() > 1 {
		rep.Note("the listing changed while it was read: it was read %d times", l.Passes())
	}
	feed := dataset.TicketFeed(func(ctx context.Context, emit func([]udesk.Ticket) error) error {
		return l.Render(ctx, func(ts []udesk.Ticket) error {
			rep.Read += int64(len(ts))
			return emit(ts)
		})
	})
	if !p.full {
		feed = filterChecked(feed, api, store, o.ChangedFilter, p.previous.Started)
		feed = completeChecked(feed, l, o.ChangedFilter)
	}
	res, err := dataset.Commit(ctx, store, feed, lookup(api, o.Concurrency, spool, rep), dataset.Options{
		Started: st.Started, UUID: st.UUID, Catalog: l.Fields, Headers: o.Headers, Schema: o.Schema, Keep: o.Keep,
		Selector: p.selector, Owner: owner, Merge: !p.full, Requests: requests, TempDir: spool.Dir(), Now: o.Now,
		Pause: o.Pause, Guard: o.guard,
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// finish marks the run's state complete and fills in the report's counts.
func finish(spool *pipeline.Spool, remote *remoteState, rep *Report) error {
	c := rep.Run.Counts
	rep.Written = c.Tickets
	rep.SetFact("tickets", c.Tickets)
	rep.SetFact("inserted", c.Inserted)
	rep.SetFact("updated", c.Updated)
	rep.SetFact("deleted", c.Deleted)
	rep.SetFact("unchanged", c.Unchanged)
	rep.SetFact("recovered", c.Recovered)
	if err := spool.Complete(); err != nil {
		return &dataset.PublishedError{Run: rep.Run.Run, Err: fmt.Errorf("marking %s complete: %w", spool.Dir(), err)}
	}
	if err := remote.remove(); err != nil {
		return &dataset.PublishedError{Run: rep.Run.Run, Err: fmt.Errorf("removing the run's state: %w", err)}
	}
	return nil
}

// committed returns the published run named run with the uuid ("" for
// any), nil if none.
func committed(runs []dataset.Run, run, uuid string) *dataset.Run {
	for i := range runs {
		if runs[i].Is(run, uuid) {
			return &runs[i]
		}
	}
	return nil
}

// completeChecked fails a changed-filter run's feed, after it handed over
// every ticket, when the listing may have left tickets out (it changed while
// it was read): a ticket a merge misses is not looked up, so it would stay
// stale until a full run.
func completeChecked(feed dataset.TicketFeed, l *listing.Spooled, filter int64) dataset.TicketFeed {
	return func(ctx context.Context, emit func([]udesk.Ticket) error) error {
		if err := feed(ctx, emit); err != nil {
			return err
		}
		if n := l.PossiblyMissing(); n > 0 {
			return fmt.Errorf("changed filter %d changed while it was read: up to %d of its tickets may be missing, and a changed-filter run does not look them up; nothing was committed: run again with --fresh, or run a full sync (without --changed-filter)", filter, n)
		}
		return nil
	}
}

// planLine states what this run and the other kind of run cost: requests
// and time at the budget. total is this run's listing total.
func (o *Options) planLine(p plan, total int) string {
	changed := "a --changed-filter run of C tickets: ⌈C/100⌉ + 2 requests (" + o.cost(100) + " for 100)"
	if !p.full {
		changed = fmt.Sprintf("this changed-filter run of %d tickets: %s", total, o.cost(total))
	}
	full := fmt.Sprintf("this full run of %d tickets: %s", total, o.cost(total))
	if !p.full {
		full = fmt.Sprintf("a full run of about %d tickets: %s", p.previous.Counts.Tickets, o.cost(int(p.previous.Counts.Tickets)))
	}
	full += ", plus 1 per ticket of the previous run not listed"
	if p.full {
		return "sync plan: " + full + "; " + changed
	}
	return "sync plan: " + changed + "; " + full
}

// cost is the requests a listing of n tickets takes and their time at the
// budget.
func (o *Options) cost(n int) string {
	req := udesk.ListingRequests(n)
	if o.Rate.Unlimited() {
		return fmt.Sprintf("%d requests (no budget)", req)
	}
	return fmt.Sprintf("%d requests, %s at the budget", req, pipeline.Approx(o.Rate.Duration(int64(req))))
}

// Location is the dataset's location normalised, so that one dataset named
// two ways is one job: a local folder made absolute with symlinks resolved,
// a bucket URL without a trailing slash.
func Location(target string) string {
	if strings.HasPrefix(target, "s3://") {
		return strings.TrimRight(target, "/")
	}
	abs := pipeline.AbsPath(target)
	// The folder may not exist yet: resolve its nearest existing parent.
	rest := ""
	for p := abs; ; p = filepath.Dir(p) {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(real, rest)
		}
		if filepath.Dir(p) == p {
			return abs
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
}

// StateDir is the state folder of a sync: beside a local dataset, in the
// working folder for a bucket, keyed on the dataset, tenant (as
// pipeline.TenantKey spells it) and selector.
func StateDir(location, tenant, selector string) string {
	beside := location
	if strings.HasPrefix(location, "s3://") {
		beside = ""
	}
	return pipeline.StateDir(beside, "sync", location, pipeline.TenantKey(tenant), selector)
}

// lookup asks the API for the tickets the listing missed: found, or
// confirmed deleted (StatusTicketNotFound); any other answer fails the run.
// The answers are saved in the spool (vanishedFile) as batches complete, so
// that a resumed run asks only for the rest.
func lookup(api API, workers int, spool *pipeline.Spool, rep *Report) dataset.LookupFunc {
	return func(ctx context.Context, ids []int64) ([]udesk.Ticket, []int64, error) {
		saved, err := readVanished(spool)
		if err != nil {
			return nil, nil, err
		}
		known := make(map[int64]bool, len(saved.Found)+len(saved.Deleted))
		for _, t := range saved.Found {
			known[t.ID] = true
		}
		for _, id := range saved.Deleted {
			known[id] = true
		}
		var ask []int64
		for _, id := range ids {
			if !known[id] {
				ask = append(ask, id)
			}
		}
		for len(ask) > 0 {
			// Batches grow with the answers saved, so that saving them
			// all again each time costs as much as saving them once.
			batch := ask[:min(len(ask), max(vanishedBatch, (len(saved.Found)+len(saved.Deleted))/2))]
			ask = ask[len(batch):]
			found, gone, err := lookupBatch(ctx, api, workers, batch)
			if err != nil {
				return nil, nil, err
			}
			saved.Found = append(saved.Found, found...)
			saved.Deleted = append(saved.Deleted, gone...)
			if err := writeVanished(spool, saved); err != nil {
				return nil, nil, err
			}
		}
		rep.SetFact("looked_up", int64(len(ids)))
		asked := make(map[int64]bool, len(ids))
		for _, id := range ids {
			asked[id] = true
		}
		var ts []udesk.Ticket
		var deleted []int64
		for _, t := range saved.Found {
			if asked[t.ID] {
				ts = append(ts, t)
			}
		}
		for _, id := range saved.Deleted {
			if asked[id] {
				deleted = append(deleted, id)
			}
		}
		return ts, deleted, nil
	}
}

// lookupBatch asks for the tickets of ids, workers at a time.
func lookupBatch(ctx context.Context, api API, workers int, ids []int64) ([]udesk.Ticket, []int64, error) {
	found := make([]*udesk.Ticket, len(ids))
	gone := make([]bool, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, workers))
	for i := range ids {
		g.Go(func() error {
			t, err := api.Ticket(gctx, ids[i])
			var ue *udesk.Error
			switch {
			case errors.As(err, &ue) && ue.Code == udesk.StatusTicketNotFound:
				gone[i] = true
			case err != nil:
				return fmt.Errorf("looking up ticket %d, which the listing did not return (its delete is not confirmed): %w", ids[i], err)
			default:
				found[i] = t
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	var ts []udesk.Ticket
	var deleted []int64
	for i, id := range ids {
		if gone[i] {
			deleted = append(deleted, id)
		} else {
			ts = append(ts, *found[i])
		}
	}
	return ts, deleted, nil
}
