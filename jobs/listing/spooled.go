package listing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// Spooled is a listing read into a spool (pages in passes with their
// checks, the field catalog once per spool), for jobs that keep a read
// resumable across runs: the sync job feeds its tickets to a dataset.
type Spooled struct {
	Fields []udesk.Field // the catalog the tickets are read with

	x   *Reader
	res *Result
	acc *Completeness
	rs  RenderStats
}

// Options say how FetchSpooled reads.
type Options struct {
	Concurrency int               // requests in flight (default 4)
	Progress    pipeline.Progress // counts the tickets read; nil shows nothing
	// Since is when the read started, across the processes of a resumed
	// run (Reader.Since). Complete counts the tickets created since: with
	// as many deleted, a read's counts look unchanged though deletions
	// shifted pages under it, and only those creates show it must check.
	Since time.Time
	// OnTotal, when set, is told the listing's total as each pass's page 1
	// tells it; OnPass that the listing changed while it was read and is
	// read again.
	OnTotal func(total int)
	OnPass  func(pass, max int)
}

// FetchSpooled reads into spool every page of the listing it does not hold
// yet, and the field catalog when the spool does not hold it, and completes
// the read (Reader.Complete): of every ticket's listing, the error is an
// *IncompleteError naming the ids it could not account for; of another
// listing, PossiblyMissing says, after Render, how many tickets the read
// may lack. A failed or cancelled fetch keeps what it read: the same call
// on the same spool resumes it.
func FetchSpooled(ctx context.Context, api API, spool *pipeline.Spool, l udesk.Listing, opts Options) (*Spooled, error) {
	prog := opts.Progress
	if prog == nil {
		prog = pipeline.Quiet{}.Phase("", "", 0)
	}
	x := NewReader(spool, l, nil, opts.Concurrency)
	x.Since = opts.Since
	res, fields, err := x.FetchWithCatalog(ctx, api, prog, Hooks{OnTotal: opts.OnTotal, OnPass: opts.OnPass})
	if err != nil {
		return nil, err
	}
	acc, err := x.Complete(ctx, res)
	if err != nil {
		return nil, err
	}
	if len(acc.Unaccounted) > 0 {
		return nil, x.Incomplete(acc)
	}
	return &Spooled{Fields: fields, x: x, res: res, acc: acc}, nil
}

// Render hands each ticket of the listing to emit once, in batches (the
// slice is reused after emit returns): dataset.TicketFeed's shape.
func (l *Spooled) Render(ctx context.Context, emit func([]udesk.Ticket) error) (err error) {
	l.rs, err = l.x.Render(ctx, emit)
	return err
}

// PossiblyMissing is, after Render, how many tickets the listing may have
// left out (see Missing).
func (l *Spooled) PossiblyMissing() int { return l.x.Missing(l.res, l.acc, l.rs) }

// Missing is, after Complete and Render, how many tickets a read may have
// left out: none when Complete accounted for every ticket (the ids it could
// not settle when it looked them up); else its total beyond the distinct
// tickets of the last pass, or how far its totals disagreed when it was
// still changing during that pass.
func (x *Reader) Missing(res *Result, acc *Completeness, rs RenderStats) int {
	switch {
	case x.IDs != nil:
		return 0
	case acc.Ran:
		return len(acc.Unaccounted)
	case acc.Missing > 0 || x.Listing == (udesk.Listing{}):
		return max(acc.Missing, countsMissing(res, rs))
	}
	return 0 // held still, or read in an order that proves it
}

// countsMissing is how many tickets a read may have left out, from its
// counts alone.
func countsMissing(res *Result, rs RenderStats) int {
	missing := max(0, res.Total-rs.LastPass)
	if !res.Stable {
		missing = max(missing, res.Spread)
	}
	return missing
}

// Passes is how many times the listing was read (1 when it did not change
// while it was read); Fetched and Held the pages requested by this call and
// found in the spool.
func (l *Spooled) Passes() int  { return l.res.Passes }
func (l *Spooled) Fetched() int { return l.res.Fetched }
func (l *Spooled) Held() int    { return l.res.Held }

// Hooks are told what a fetch learns, beyond its progress; nil hooks are
// not called.
type Hooks struct {
	OnTotal   func(total int)     // each pass's total (the progress's total is their sum)
	OnPass    func(pass, max int) // the listing changed while it was read: it is read again
	OnCatalog func([]udesk.Field) // the field catalog, once read
}

// NewReader is a reader of listing l (or of ids, when not nil) into spool,
// with pages of udesk.PageSize and concurrency requests in flight.
func NewReader(spool *pipeline.Spool, l udesk.Listing, ids []int64, concurrency int) *Reader {
	return &Reader{Spool: spool, Listing: l, IDs: ids, PerPage: udesk.PageSize, Workers: concurrency}
}

// FetchWithCatalog runs x's fetch from api with the field catalog read
// once per spool (CatalogFile), while page 1 is in flight: page 1 first, as
// the other pages wait for its total_pages. The tickets read are counted on
// prog.
func (x *Reader) FetchWithCatalog(ctx context.Context, api API, prog pipeline.Progress, hooks Hooks) (*Result, []udesk.Field, error) {
	var fields []udesk.Field
	var catalog errgroup.Group
	startCatalog := sync.OnceFunc(func() {
		catalog.Go(func() (err error) {
			fields, err = loadOrFetchCatalog(ctx, api, x.Spool)
			if err == nil && hooks.OnCatalog != nil {
				hooks.OnCatalog(fields)
			}
			return err
		})
	})
	if x.IDs != nil {
		startCatalog()
	}
	var total int
	x.Pages, x.Tickets = &beforePage{api, startCatalog}, api
	x.OnTotal = func(n int) {
		total += n
		prog.SetTotal(int64(total))
		if hooks.OnTotal != nil {
			hooks.OnTotal(n)
		}
	}
	x.OnTickets = prog.Add
	x.OnHeld = func(n int) { pipeline.AddDone(prog, n) }
	x.OnPass = hooks.OnPass
	res, err := x.Fetch(ctx)
	prog.Finish()
	startCatalog() // when every page was held
	if cerr := catalog.Wait(); err == nil && cerr != nil {
		err = fmt.Errorf("reading the field catalog: %w", cerr)
	}
	return res, fields, err
}

// beforePage calls start as each page request is made (start is a
// sync.OnceFunc that starts the catalog request in the background).
type beforePage struct {
	PageReader
	start func()
}

func (b *beforePage) PageHead(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.PageHead, error) {
	b.start()
	return b.PageReader.PageHead(ctx, l, page, perPage)
}

func (b *beforePage) Page(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.Page, error) {
	b.start()
	return b.PageReader.Page(ctx, l, page, perPage)
}

// CatalogFile holds, in a spool, the field catalog its tickets are read with.
const CatalogFile = "catalog.json"

// loadOrFetchCatalog returns the spool's field catalog, reading it from
// the API (and saving it) only the first time.
func loadOrFetchCatalog(ctx context.Context, api API, spool *pipeline.Spool) ([]udesk.Field, error) {
	b, err := spool.ReadFile(CatalogFile)
	if err == nil {
		fields, err := udesk.ReadFields(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(spool.Dir(), CatalogFile), err)
		}
		return fields, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	fields, err := api.Fields(ctx)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := udesk.WriteFields(&buf, fields); err != nil {
		return nil, err
	}
	return fields, spool.WriteFile(CatalogFile, buf.Bytes())
}
