package listing

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// passRead is one Fetch of a listing, over its passes (see Reader).
type passRead struct {
	x    *Reader
	res  *Result
	live *Feed // nil once the first pass is not the read's

	mu   sync.Mutex // guards have, res and the pass's ids from the workers
	have map[pageKey]pipeline.SpoolPage
	// The pass checks need the distinct ticket ids of a pass: the pages this
	// run fetches add theirs to ids as they come (a bitset, not a list per
	// page, so memory stays about a bit per ticket), but for page 1, which
	// counts only when it is the pass's one page.
	ids      *idSet
	page1IDs []int64
}

func (x *Reader) fetchListing(ctx context.Context, have map[pageKey]pipeline.SpoolPage) (res *Result, err error) {
	r := &passRead{x: x, have: have, live: x.Live,
		res: &Result{Held: len(have), StartTotal: have[pageKey{0, 1}].Total, heads: map[pageKey]bool{}, created: newIDSet()}}
	pass := r.resume()
	if pass > 0 {
		r.live = nil // resumed in a later pass: the first is not the read's
	}
	defer func() {
		if err == nil {
			err = x.Spool.Sync()
		}
	}()
	for {
		n, err := r.readPass(ctx, pass)
		if err != nil {
			return nil, err
		}
		if err := r.check(pass, n); err != nil {
			return nil, err
		}
		if r.res.Stable || pass+1 >= x.maxPasses() {
			return r.res, nil
		}
		if err := r.next(pass); err != nil {
			return nil, err
		}
		pass++
	}
}

// resume counts, for the progress, what the passes before the last held
// pass read, and returns that pass: a resumed read goes on from it.
func (r *passRead) resume() (pass int) {
	for k := range r.have {
		pass = max(pass, k.pass)
	}
	for k, p := range r.have {
		if k.pass < pass && k.page > 0 {
			r.x.addTickets(p.Size)
		}
	}
	for p := 0; p < pass; p++ {
		if first, ok := r.have[pageKey{p, 1}]; ok {
			r.x.addTotal(first.Total)
		}
	}
	return pass
}

// get reads page of the listing, stores it as page as (0: the end check) of
// pass, and notes its ids.
func (r *passRead) get(ctx context.Context, pass, page, as int) (pipeline.SpoolPage, error) {
	x, live := r.x, r.live
	if pass != 0 {
		live = nil
	}
	// A live render takes the first pass's pages decoded in full, so that
	// it need not read and decode them again.
	var full *udesk.Page
	var pg *udesk.PageHead
	var err error
	if live != nil {
		if full, err = x.Pages.Page(ctx, x.Listing, page, x.perPage()); err == nil {
			pg = full.Head()
		}
	} else {
		pg, err = x.Pages.PageHead(ctx, x.Listing, page, x.perPage())
	}
	if err != nil {
		return pipeline.SpoolPage{}, fmt.Errorf("reading page %d of %s: %w", page, x.name(), err)
	}
	sp := pipeline.SpoolPage{Pass: pass, Page: as, Size: len(pg.IDs), Total: pg.Total, TotalPages: pg.TotalPages}
	if err := x.Spool.Put(sp, pg.Raw); err != nil {
		return sp, err
	}
	r.mu.Lock()
	k := pageKey{pass, as}
	r.have[k] = sp
	r.res.heads[k] = true
	x.noteCreated(r.res, pg)
	if as == 1 {
		r.page1IDs = append(r.page1IDs[:0], pg.IDs...)
	} else {
		for _, id := range pg.IDs {
			r.ids.add(id)
		}
	}
	r.res.Fetched++
	r.mu.Unlock()
	if live != nil {
		live.spooled(as, full)
	}
	return sp, nil
}

// readPass reads (or finds held) page 1 of pass, then its other pages from
// the last to page 2 and the end check, and returns the pass's page count.
func (r *passRead) readPass(ctx context.Context, pass int) (int, error) {
	x := r.x
	r.res.Passes = pass + 1
	r.ids, r.page1IDs = newIDSet(), nil
	first, held := r.have[pageKey{pass, 1}]
	if !held {
		var err error
		if first, err = r.get(ctx, pass, 1, 1); err != nil {
			return 0, err
		}
	}
	x.addTotal(first.Total)
	if held && pass == 0 {
		x.addHeld(first.Size)
	} else {
		x.addTickets(first.Size)
	}
	if pass == 0 {
		r.res.StartTotal = first.Total // when page 1 was fetched now
	}
	n := max(first.TotalPages, 1)
	var missing []int
	for page := n; page >= 2; page-- {
		if p, ok := r.have[pageKey{pass, page}]; ok {
			x.addHeld(p.Size)
		} else {
			missing = append(missing, page)
		}
	}
	// The end check (page 0: page 1 read again) is dispatched after page
	// 2, so that it follows the pages without a pause in the budget.
	if _, ok := r.have[pageKey{pass, 0}]; !ok && n > 1 {
		missing = append(missing, 0)
	}
	if r.live != nil && pass == 0 {
		r.live.start(n, func(page int) bool { _, ok := r.have[pageKey{0, page}]; return ok })
	}
	workers := x.workers()
	if pass > 0 {
		workers = 1
	}
	r.res.OneAtATime = workers == 1
	return n, forEach(ctx, workers, missing, func(ctx context.Context, page int) error {
		if page == 0 {
			_, err := r.get(ctx, pass, 1, 0)
			return err
		}
		sp, err := r.get(ctx, pass, page, page)
		x.addTickets(sp.Size)
		return err
	})
}

// check decides whether pass, of n pages, was a consistent read: every
// reply gave one total, and the pass holds that many distinct tickets.
func (r *passRead) check(pass, n int) error {
	res, first := r.res, r.have[pageKey{pass, 1}]
	lo, hi := first.Total, first.Total
	if n > 1 {
		for page := 0; page <= n; page++ {
			t := r.have[pageKey{pass, page}].Total
			lo, hi = min(lo, t), max(hi, t)
		}
		res.Total = r.have[pageKey{pass, 0}].Total
	} else {
		res.Total = first.Total
	}
	// Tickets deleted and created alike leave the total as it was, but
	// the pages they shifted hold a ticket twice where another may have
	// been skipped: fewer distinct tickets than the total says so.
	distinct, err := r.distinct(pass, n)
	if err != nil {
		return err
	}
	res.Stable = lo == hi && distinct == res.Total
	res.Spread = max(hi-lo, res.Total-distinct)
	return nil
}

// distinct counts the tickets of a pass as Render will see them: the end
// check standing for page 1, then pages 2..n. r.ids holds the ids of the
// pages but page 1 fetched by this run, r.page1IDs those of page 1 if it
// was; pages held from an earlier run are decoded into r.ids.
func (r *passRead) distinct(pass, n int) (int, error) {
	fetched := r.res.heads
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
			for _, id := range r.page1IDs {
				r.ids.add(id)
			}
		case fetched[k]: // already in r.ids
		default:
			pg, err := r.x.readHead(r.have[k])
			if err != nil {
				return 0, err
			}
			for _, id := range pg.IDs {
				r.ids.add(id)
			}
			r.x.noteCreated(r.res, pg)
			fetched[k] = true
		}
	}
	return r.ids.len(), nil
}

// next starts the pass after pass: tickets may have shifted past pages
// already read, so the listing is read again, from the end check's page 1,
// which is the next pass's page 1.
func (r *passRead) next(pass int) error {
	x := r.x
	check := r.have[pageKey{pass, 0}]
	body, err := x.Spool.Read(check)
	if err != nil {
		return err
	}
	if r.live != nil {
		r.live.Abandon()
		r.live = nil
	}
	if x.OnPass != nil {
		x.OnPass(pass+2, x.maxPasses())
	}
	first := check
	first.Pass, first.Page = pass+1, 1
	if err := x.Spool.Put(first, body); err != nil {
		return err
	}
	r.have[pageKey{pass + 1, 1}] = first
	return nil
}

// noteCreated adds to res.created the tickets of pg created since x.Since.
func (x *Reader) noteCreated(res *Result, pg *udesk.PageHead) {
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
