package export

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// Listing is a listing read into a spool the export's way (pages in passes
// with their checks, the field catalog once per spool), for jobs that use
// the tickets other than as files: the sync job feeds them to its dataset.
type Listing struct {
	Fields []udesk.Field // the catalog the tickets are read with

	x   *fetcher
	res *fetchResult
	rs  renderStats
}

// ListingOptions say how FetchListing reads.
type ListingOptions struct {
	Concurrency int               // requests in flight (default 4)
	Progress    pipeline.Progress // counts the tickets read; nil shows nothing
	// OnTotal, when set, is told the listing's total as each pass's page 1
	// tells it; OnPass that the listing changed while it was read and is
	// read again.
	OnTotal func(total int)
	OnPass  func(pass, max int)
}

// FetchListing reads into spool every page of the listing it does not hold
// yet, and the field catalog when the spool does not hold it. A failed or
// cancelled fetch keeps what it read: the same call on the same spool
// resumes it.
func FetchListing(ctx context.Context, api API, spool *pipeline.Spool, l udesk.Listing, opts ListingOptions) (*Listing, error) {
	prog := opts.Progress
	if prog == nil {
		prog = pipeline.Quiet{}.Phase("", "", 0)
	}
	x := newFetcher(spool, Selector{Listing: l}, opts.Concurrency)
	res, fields, err := fetchWithCatalog(ctx, api, x, prog, fetchHooks{OnTotal: opts.OnTotal, OnPass: opts.OnPass})
	if err != nil {
		return nil, err
	}
	return &Listing{Fields: fields, x: x, res: res}, nil
}

// Render hands each ticket of the listing to emit once, in batches (the
// slice is reused after emit returns): dataset.TicketFeed's shape.
func (l *Listing) Render(ctx context.Context, emit func([]udesk.Ticket) error) (err error) {
	l.rs, err = l.x.Render(ctx, emit)
	return err
}

// PossiblyMissing is, after Render, how many tickets the listing may have
// left out: its total beyond the distinct tickets of the last pass, or how
// far its totals disagreed when it was still changing during that pass.
func (l *Listing) PossiblyMissing() int { return possiblyMissing(l.res, l.rs) }

func possiblyMissing(res *fetchResult, rs renderStats) int {
	missing := max(0, res.Total-rs.LastPass)
	if !res.Stable {
		missing = max(missing, res.Spread)
	}
	return missing
}

// Passes is how many times the listing was read (1 when it did not change
// while it was read); Fetched and Held the pages requested by this call and
// found in the spool.
func (l *Listing) Passes() int  { return l.res.Passes }
func (l *Listing) Fetched() int { return l.res.Fetched }
func (l *Listing) Held() int    { return l.res.Held }

// fetchHooks are told what a fetch learns, beyond its progress; nil hooks
// are not called.
type fetchHooks struct {
	OnTotal   func(total int)     // each pass's total (the progress's total is their sum)
	OnPass    func(pass, max int) // the listing changed while it was read: it is read again
	OnCatalog func([]udesk.Field) // the field catalog, once read
}

// newFetcher is a fetcher of sel into spool, the export's way.
func newFetcher(spool *pipeline.Spool, sel Selector, concurrency int) *fetcher {
	return &fetcher{Spool: spool, Selector: sel, PerPage: pageSize, Workers: concurrency}
}

// fetchWithCatalog runs x's fetch with the field catalog read once per
// snapshot, while page 1 is in flight: page 1 first, as the other pages
// wait for its total_pages.
func fetchWithCatalog(ctx context.Context, api API, x *fetcher, prog pipeline.Progress, hooks fetchHooks) (*fetchResult, []udesk.Field, error) {
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
	if x.Selector.IDs != nil {
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
