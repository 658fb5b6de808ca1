package listing

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// PageReader reads one page of a ticket listing, its head only (the body is
// spooled and decoded in full when rendered) or, for a live render that
// takes it as it comes, in full; *udesk.Client is one.
type PageReader interface {
	PageHead(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.PageHead, error)
	Page(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.Page, error)
}

// TicketReader reads one ticket by id; *udesk.Client is one.
type TicketReader interface {
	Ticket(ctx context.Context, id int64) (*udesk.Ticket, error)
}

// Lister is what a read in memory asks of Udesk: the pages, and the tickets
// the completeness check looks up by id.
type Lister interface {
	PageReader
	TicketReader
}

// API is what a spooled read asks of Udesk: a Lister and the field catalog
// the spool keeps beside the pages; *udesk.Client is one.
type API interface {
	Lister
	Fields(ctx context.Context) ([]udesk.Field, error)
}

// Reader reads a listing (or the tickets IDs names one by one) into a
// spool, resumably, and renders it from there deduplicated by id.
//
// A listing is read in passes. A pass reads page 1 (which tells
// total_pages), then the other pages from the last to page 2, then page 1
// once more (the end check), whose reply stands for page 1 in the output.
// The pages are dispatched in that order to Workers goroutines, so replies
// in flight at once may be served out of order; the checks below catch what
// that lets slip.
// Reading toward page 1 makes a pass immune to what deletions do to a list:
// the tickets after a deleted one move toward page 1, into pages not read
// yet, so none is skipped (tickets appended at the end are new anyway).
// Every reply carries the listing's total: when they all agree and the pass
// holds that many distinct tickets, it is taken as a consistent read. When
// they differ, or a ticket came twice (the pages shifted: tickets came and
// went, even if as many of each), a ticket can have shifted past a page
// boundary between two replies in flight at once: the listing is read again,
// one page at a time (from the end check's page 1), up to MaxPasses passes.
// A listing of one page needs no end check: one reply is one consistent read.
// Tickets are rendered from the last pass first, then those only earlier
// passes saw, each ticket once. Complete then settles, or names, what the
// passes could not account for.
//
// Every reply is stored before it counts, so a rerun after a crash fetches
// only the pages not held; the pages' counts are in the store's index, so a
// rerun decides the same as the run it continues without decoding anything.
// A fetch decodes only a reply's head (counts and ids); Render decodes the
// stored bodies in full, while the first pass is still read when Live is
// set.
type Reader struct {
	Spool   *pipeline.Spool
	Listing udesk.Listing
	// IDs, when not nil, are the tickets to read one request per id,
	// instead of the listing.
	IDs       []int64
	Name      string // what is read, in errors (default: the listing's description)
	Pages     PageReader
	Tickets   TicketReader
	PerPage   int // default udesk.PageSize, the API's maximum
	Workers   int // requests kept in flight (default 4); the client caps and paces them
	MaxPasses int // passes over a changing listing at most (default 2)

	// OnTotal is told how many tickets the run will read, as soon as a
	// pass's page 1 says so (the sum over passes); OnTickets how many more
	// were read (or found spooled). Both may be nil; calls are serialized.
	OnTotal   func(total int)
	OnTickets func(n int)
	// OnHeld is told of tickets on pages an earlier run held (default:
	// OnTickets); OnPass that the listing changed while it was read and
	// pass (counted from 1) of at most max reads it again.
	OnHeld func(n int)
	OnPass func(pass, max int)
	// Live, when set, is told the first pass's pages in render order and
	// each page as it is spooled, and abandoned when a second pass begins.
	Live *Feed
	// Since, when set, is when the read started (of a run that may span
	// several processes): the fetch notes the tickets created since as it
	// reads the pages, for Complete.
	Since time.Time

	mu sync.Mutex // serializes the callbacks
}

// Result is what Fetch learned.
type Result struct {
	StartTotal int  // the listing's total on the first pass's page 1 (IDs: how many)
	Total      int  // the listing's total at the last end check
	Passes     int  // passes made over the listing (1 when nothing changed)
	Stable     bool // the last pass saw one total throughout, and that many distinct tickets
	Spread     int  // the last pass: how far its totals and distinct tickets disagreed (0 when Stable)
	// OneAtATime says the last pass was read one request at a time, each
	// page's reply before the next request (see Complete).
	OneAtATime bool
	Fetched    int // requests made for pages or ids by this run
	Held       int // pages or ids found spooled by an earlier run
	Failed     []IDFailure

	// heads are the pages whose heads this run read, created the ids on
	// them of tickets created since the reader's Since (for Complete).
	heads   map[pageKey]bool
	created *idSet
}

// IDFailure is an id of an IDs read that the API does not know.
type IDFailure struct {
	ID    int64  `json:"id"`
	Error string `json:"error"`
}

// Describe names a listing as a user would: "all tickets", "filter 7",
// "customer a@b.c". The export's and the sync's state keys hold it: change
// it only so that every listing keeps its name.
func Describe(l udesk.Listing) string {
	switch {
	case l.FilterID != 0 && l.AgentID != 0:
		return fmt.Sprintf("filter %d agent %d", l.FilterID, l.AgentID)
	case l.FilterID != 0:
		return fmt.Sprintf("filter %d", l.FilterID)
	case l.CustomerEmail != "":
		return "customer " + l.CustomerEmail
	}
	return "all tickets"
}

func (x *Reader) name() string {
	if x.Name != "" {
		return x.Name
	}
	return Describe(x.Listing)
}

func (x *Reader) perPage() int {
	if x.PerPage <= 0 {
		return udesk.PageSize
	}
	return x.PerPage
}

func (x *Reader) workers() int {
	if x.Workers <= 0 {
		return 4
	}
	return x.Workers
}

func (x *Reader) maxPasses() int {
	if x.MaxPasses <= 0 {
		return 2
	}
	return x.MaxPasses
}

func (x *Reader) addTotal(n int) {
	if x.OnTotal != nil {
		x.mu.Lock()
		x.OnTotal(n)
		x.mu.Unlock()
	}
}

func (x *Reader) addTickets(n int) { x.report(x.OnTickets, n) }

// addHeld counts the tickets of a page an earlier run held.
func (x *Reader) addHeld(n int) {
	if x.OnHeld != nil {
		x.report(x.OnHeld, n)
	} else {
		x.addTickets(n)
	}
}

func (x *Reader) report(f func(int), n int) {
	if f != nil && n > 0 {
		x.mu.Lock()
		f(n)
		x.mu.Unlock()
	}
}

type pageKey struct{ pass, page int }

// Fetch reads into the store every page (or id) it does not hold yet.
func (x *Reader) Fetch(ctx context.Context) (*Result, error) {
	held, err := x.Spool.Pages()
	if err != nil {
		return nil, err
	}
	have := make(map[pageKey]pipeline.SpoolPage, len(held))
	for _, p := range held {
		have[pageKey{p.Pass, p.Page}] = p
	}
	if x.IDs != nil {
		return x.fetchIDs(ctx, have)
	}
	return x.fetchListing(ctx, have)
}

// readHead reads a stored page's head.
func (x *Reader) readHead(p pipeline.SpoolPage) (*udesk.PageHead, error) {
	body, err := x.Spool.Read(p)
	if err != nil {
		return nil, err
	}
	pg, err := udesk.DecodePageHead(body)
	if err != nil {
		return nil, fmt.Errorf("spooled page %d (pass %d) in %s: %w", p.Page, p.Pass, x.Spool.Dir(), err)
	}
	return pg, nil
}

// forEach runs fn for every item on workers goroutines and returns the
// first error, cancelling the others. The workers take the items from one
// channel, so that the requests go out in the order given: a goroutine
// started per item would run in no set order (the newest often first), and
// the order is what keeps a pass immune to deletions.
func forEach(ctx context.Context, workers int, items []int, fn func(ctx context.Context, item int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	next := make(chan int)
	g.Go(func() error {
		defer close(next)
		for _, it := range items {
			select {
			case next <- it:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	for range min(workers, len(items)) {
		g.Go(func() error {
			for it := range next {
				if err := fn(gctx, it); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// indexes is 0..n-1, the items of forEach over a slice.
func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
