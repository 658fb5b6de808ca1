package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// pageReader reads one page of a ticket listing, its head only (the body is
// spooled and decoded in full when rendered) or, for a live render that
// takes it as it comes, in full; *udesk.Client is one.
type pageReader interface {
	PageHead(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.PageHead, error)
	Page(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.Page, error)
}

// ticketReader reads one ticket by id; *udesk.Client is one.
type ticketReader interface {
	Ticket(ctx context.Context, id int64) (*udesk.Ticket, error)
}

// fetcher reads the tickets a Selector names into a spool, resumably, and
// renders them from it deduplicated by id.
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
// passes saw, each ticket once.
//
// Every reply is spooled before it counts, so a rerun after a crash fetches
// only the pages not held; the pages' counts are in the spool's index, so a
// rerun decides the same as the run it continues without decoding anything.
// A fetch decodes only a reply's head (counts and ids); Render decodes the
// spooled bodies in full, while the first pass is still read when Live is
// set (see liveRender).
type fetcher struct {
	Spool     *pipeline.Spool
	Selector  Selector
	Pages     pageReader
	Tickets   ticketReader
	PerPage   int // default 100, the API's maximum
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
	Live *pageFeed
	// Since, when set, is when the export started: the fetch notes the
	// tickets created since (fetchResult.created) as it reads the pages.
	Since time.Time

	mu sync.Mutex // serializes the callbacks
}

// fetchResult is what Fetch learned.
type fetchResult struct {
	StartTotal int  // the listing's total on the first pass's page 1 (IDs: how many)
	Total      int  // the listing's total at the last end check
	Passes     int  // passes made over the listing (1 when nothing changed)
	Stable     bool // the last pass saw one total throughout, and that many distinct tickets
	Spread     int  // the last pass: how far its totals and distinct tickets disagreed (0 when Stable)
	Fetched    int  // requests made for pages or ids by this run
	Held       int  // pages or ids found spooled by an earlier run
	Failed     []idFailure

	// heads are the pages whose heads this run read, created the ids on
	// them of tickets created since the fetcher's Since (for account).
	heads   map[pageKey]bool
	created *idSet
}

// idFailure is an id of an IDs selector that the API does not know.
type idFailure struct {
	ID    int64  `json:"id"`
	Error string `json:"error"`
}

func (x *fetcher) perPage() int {
	if x.PerPage <= 0 {
		return 100
	}
	return x.PerPage
}

func (x *fetcher) workers() int {
	if x.Workers <= 0 {
		return 4
	}
	return x.Workers
}

func (x *fetcher) maxPasses() int {
	if x.MaxPasses <= 0 {
		return 2
	}
	return x.MaxPasses
}

func (x *fetcher) addTotal(n int) {
	if x.OnTotal != nil {
		x.mu.Lock()
		x.OnTotal(n)
		x.mu.Unlock()
	}
}

func (x *fetcher) addTickets(n int) { x.report(x.OnTickets, n) }

// addHeld counts the tickets of a page an earlier run held.
func (x *fetcher) addHeld(n int) {
	if x.OnHeld != nil {
		x.report(x.OnHeld, n)
	} else {
		x.addTickets(n)
	}
}

func (x *fetcher) report(f func(int), n int) {
	if f != nil && n > 0 {
		x.mu.Lock()
		f(n)
		x.mu.Unlock()
	}
}

type pageKey struct{ pass, page int }

// Fetch reads into the spool every page (or id) it does not hold yet.
func (x *fetcher) Fetch(ctx context.Context) (*fetchResult, error) {
	held, err := x.Spool.Pages()
	if err != nil {
		return nil, err
	}
	have := make(map[pageKey]pipeline.SpoolPage, len(held))
	for _, p := range held {
		have[pageKey{p.Pass, p.Page}] = p
	}
	if x.Selector.IDs != nil {
		return x.fetchIDs(ctx, have)
	}
	return x.fetchListing(ctx, have)
}

func (x *fetcher) fetchListing(ctx context.Context, have map[pageKey]pipeline.SpoolPage) (res *fetchResult, err error) {
	res = &fetchResult{Held: len(have), StartTotal: have[pageKey{0, 1}].Total, heads: map[pageKey]bool{}, created: newIDSet()}
	pass := 0
	for k := range have {
		pass = max(pass, k.pass)
	}
	// A resumed run counts what earlier passes read, for the progress.
	for k, p := range have {
		if k.pass < pass && k.page > 0 {
			x.addTickets(p.Size)
		}
	}
	for p := 0; p < pass; p++ {
		if first, ok := have[pageKey{p, 1}]; ok {
			x.addTotal(first.Total)
		}
	}
	// The pass checks need the distinct ticket ids of a pass: the pages this
	// run fetches add theirs to passIDs as they come (a bitset, not a list
	// per page, so memory stays about a bit per ticket), but for page 1, which
	// counts only when it is the pass's one page.
	var mu sync.Mutex // guards have, res, passIDs and page1IDs from the workers
	fetched := res.heads
	var passIDs *idSet
	var page1IDs []int64
	live := x.Live
	if pass > 0 {
		live = nil // resumed in a later pass: the first is not the export's
	}
	get := func(ctx context.Context, pass, page, as int) (pipeline.SpoolPage, error) {
		// A live render takes the first pass's pages decoded in full, so
		// that it need not read and decode them again.
		var full *udesk.Page
		var pg *udesk.PageHead
		var err error
		if live != nil && pass == 0 {
			if full, err = x.Pages.Page(ctx, x.Selector.Listing, page, x.perPage()); err == nil {
				pg = full.Head()
			}
		} else {
			pg, err = x.Pages.PageHead(ctx, x.Selector.Listing, page, x.perPage())
		}
		if err != nil {
			return pipeline.SpoolPage{}, fmt.Errorf("reading page %d of %s: %w", page, x.Selector, err)
		}
		sp := pipeline.SpoolPage{Pass: pass, Page: as, Size: len(pg.IDs), Total: pg.Total, TotalPages: pg.TotalPages}
		if err := x.Spool.Put(sp, pg.Raw); err != nil {
			return sp, err
		}
		mu.Lock()
		have[pageKey{pass, as}] = sp
		fetched[pageKey{pass, as}] = true
		x.noteCreated(res, pg)
		if as == 1 {
			page1IDs = append(page1IDs[:0], pg.IDs...)
		} else {
			for _, id := range pg.IDs {
				passIDs.add(id)
			}
		}
		res.Fetched++
		mu.Unlock()
		if live != nil && pass == 0 {
			live.spooled(as, full)
		}
		return sp, nil
	}
	defer func() {
		if err == nil {
			err = x.Spool.Sync()
		}
	}()
	for {
		res.Passes = pass + 1
		passIDs, page1IDs = newIDSet(), nil
		first, held := have[pageKey{pass, 1}]
		if !held {
			var err error
			if first, err = get(ctx, pass, 1, 1); err != nil {
				return nil, err
			}
		}
		x.addTotal(first.Total)
		if held && pass == 0 {
			x.addHeld(first.Size)
		} else {
			x.addTickets(first.Size)
		}
		if pass == 0 {
			res.StartTotal = first.Total // when page 1 was fetched now
		}
		n := max(first.TotalPages, 1)
		var missing []int
		for page := n; page >= 2; page-- {
			if p, ok := have[pageKey{pass, page}]; ok {
				x.addHeld(p.Size)
			} else {
				missing = append(missing, page)
			}
		}
		// The end check (page 0: page 1 read again) is dispatched after page
		// 2, so that it follows the pages without a pause in the budget.
		if _, ok := have[pageKey{pass, 0}]; !ok && n > 1 {
			missing = append(missing, 0)
		}
		if live != nil && pass == 0 {
			live.start(n, func(page int) bool { _, ok := have[pageKey{0, page}]; return ok })
		}
		workers := x.workers()
		if pass > 0 {
			workers = 1
		}
		err := forEach(ctx, workers, missing, func(ctx context.Context, page int) error {
			if page == 0 {
				_, err := get(ctx, pass, 1, 0)
				return err
			}
			sp, err := get(ctx, pass, page, page)
			x.addTickets(sp.Size)
			return err
		})
		if err != nil {
			return nil, err
		}
		lo, hi := first.Total, first.Total
		if n > 1 {
			check := have[pageKey{pass, 0}]
			for page := 0; page <= n; page++ {
				t := have[pageKey{pass, page}].Total
				lo, hi = min(lo, t), max(hi, t)
			}
			res.Total = check.Total
		} else {
			res.Total = first.Total
		}
		// Tickets deleted and created alike leave the total as it was, but
		// the pages they shifted hold a ticket twice where another may have
		// been skipped: fewer distinct tickets than the total says so.
		distinct, err := x.distinct(res, pass, n, have, passIDs, page1IDs)
		if err != nil {
			return nil, err
		}
		res.Stable = lo == hi && distinct == res.Total
		res.Spread = max(hi-lo, res.Total-distinct)
		if res.Stable || pass+1 >= x.maxPasses() {
			break
		}
		// Tickets may have shifted past pages already read: read the listing
		// again, starting from the end check's page 1, which is that pass's
		// page 1.
		check := have[pageKey{pass, 0}]
		body, err := x.Spool.Read(check)
		if err != nil {
			return nil, err
		}
		pass++
		if live != nil {
			live.abandon()
		}
		if x.OnPass != nil {
			x.OnPass(pass+1, x.maxPasses())
		}
		first = check
		first.Pass, first.Page = pass, 1
		if err := x.Spool.Put(first, body); err != nil {
			return nil, err
		}
		have[pageKey{pass, 1}] = first
	}
	return res, nil
}

// distinct counts the tickets of a pass as Render will see them: the end
// check standing for page 1, then pages 2..n. seen holds the ids of the
// pages but page 1 fetched by this run, page1IDs those of page 1 if it was;
// pages held from an earlier run are decoded into seen.
func (x *fetcher) distinct(res *fetchResult, pass, n int, have map[pageKey]pipeline.SpoolPage, seen *idSet, page1IDs []int64) (int, error) {
	fetched := res.heads
	for page := 0; page <= n; page++ {
		k := pageKey{pass, page}
		skip := page == 1 // the end check stands for it
		if n == 1 {
			skip = page == 0 // a single page has no end check
		}
		if skip {
			continue
		}
		switch {
		case fetched[k] && page == 1:
			for _, id := range page1IDs {
				seen.add(id)
			}
		case fetched[k]: // already in seen
		default:
			pg, err := x.readHead(have[k])
			if err != nil {
				return 0, err
			}
			for _, id := range pg.IDs {
				seen.add(id)
			}
			x.noteCreated(res, pg)
			res.heads[k] = true
		}
	}
	return seen.len(), nil
}

// noteCreated adds to res.created the tickets of pg created since x.Since.
func (x *fetcher) noteCreated(res *fetchResult, pg *udesk.PageHead) {
	if x.Since.IsZero() {
		return
	}
	since := x.Since.Truncate(time.Second)
	for i, id := range pg.IDs {
		if ct, err := time.Parse(udesk.TimestampLayout, pg.CreatedAt[i]); err == nil && !ct.Before(since) {
			res.created.add(id)
		}
	}
}

// readHead reads a spooled page's head.
func (x *fetcher) readHead(p pipeline.SpoolPage) (*udesk.PageHead, error) {
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

// fetchIDs reads the tickets one request per id. Each id is spooled as a
// one-ticket page (page = its place in the list); an id the API does not
// know is spooled as a failure, so a rerun neither asks again nor forgets it.
func (x *fetcher) fetchIDs(ctx context.Context, have map[pageKey]pipeline.SpoolPage) (*fetchResult, error) {
	ids := x.Selector.IDs
	res := &fetchResult{StartTotal: len(ids), Total: len(ids), Passes: 1, Stable: true}
	x.addTotal(len(ids))
	var missing []int
	for i := range ids {
		if p, ok := have[pageKey{0, i + 1}]; ok {
			res.Held++
			x.addTickets(p.Size)
		} else {
			missing = append(missing, i+1)
		}
	}
	var mu sync.Mutex
	err := forEach(ctx, x.workers(), missing, func(ctx context.Context, page int) error {
		id := ids[page-1]
		t, err := x.Tickets.Ticket(ctx, id)
		var ue *udesk.Error
		switch {
		case errors.As(err, &ue) && ue.Code == udesk.StatusTicketNotFound:
			body, _ := json.Marshal(idFailure{ID: id, Error: err.Error()})
			if err := x.Spool.Put(pipeline.SpoolPage{Page: page, Failed: true}, body); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("reading ticket %d: %w", id, err)
		default:
			body, err := json.Marshal(onePage{Total: 1, TotalPages: 1, Size: 1, Contents: []*udesk.Ticket{t}})
			if err != nil {
				return err
			}
			if err := x.Spool.Put(pipeline.SpoolPage{Page: page, Size: 1, Total: 1, TotalPages: 1}, body); err != nil {
				return err
			}
			x.addTickets(1)
		}
		mu.Lock()
		res.Fetched++
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := x.Spool.Sync(); err != nil {
		return nil, err
	}
	pages, err := x.Spool.Pages()
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		if !p.Failed {
			continue
		}
		body, err := x.Spool.Read(p)
		if err != nil {
			return nil, err
		}
		var f idFailure
		if err := json.Unmarshal(body, &f); err != nil {
			return nil, fmt.Errorf("spool %s: page %d: %w", x.Spool.Dir(), p.Page, err)
		}
		res.Failed = append(res.Failed, f)
	}
	return res, nil
}

// onePage is a listing reply holding one ticket read by id, so that every
// spooled body decodes with udesk.DecodePage.
type onePage struct {
	Status     int             `json:"status"`
	Size       int             `json:"size"`
	Total      int             `json:"total"`
	TotalPages int             `json:"total_pages"`
	Contents   []*udesk.Ticket `json:"contents"`
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
