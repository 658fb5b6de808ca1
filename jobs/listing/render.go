package listing

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// RenderStats counts what Render passed on and what it dropped.
type RenderStats struct {
	Read       int // tickets in the spooled pages rendered (repeats included)
	Unique     int // tickets passed on
	Duplicates int // a ticket met again in the same pass (pages shifted under the read)
	Reread     int // a ticket met again in an earlier pass (a re-read, not a duplicate)
	LastPass   int // distinct tickets in the last pass
	LookedUp   int // tickets no pass listed, found by id (Complete)
}

// decodeWorkers decode spooled pages while the caller writes the previous ones.
const decodeWorkers = 2

// renderBatch is how many tickets Render hands on at once, at least.
const renderBatch = 500

// Render decodes the spooled pages and hands each ticket to emit once, in
// batches: the last pass first (the freshest read of a ticket wins), then
// tickets only earlier passes saw, then those Complete looked up by id.
// Within a pass of a listing, pages come in the order they were requested
// (from the last page to page 2, then the end check standing for page 1)
// and each page's tickets from its last to its first, so that the output is
// the listing in reverse and the first pass can be rendered while it is
// still being read (liveRender) in the same order as Render renders it
// afterwards. Tickets read by id come in the order of the ids. The slice
// passed to emit is reused after emit returns.
func (x *Reader) Render(ctx context.Context, emit func([]udesk.Ticket) error) (RenderStats, error) {
	pages, err := x.Spool.Pages()
	if err != nil {
		return RenderStats{}, err
	}
	last := 0
	held := make(map[pageKey]bool, len(pages))
	for _, p := range pages {
		last = max(last, p.Pass)
		held[pageKey{p.Pass, p.Page}] = !p.Failed
	}
	var order []pipeline.SpoolPage
	for pass := last; pass >= 0; pass-- {
		var ofPass []pipeline.SpoolPage
		for _, p := range pages {
			// The end check (page 0) is the later read of page 1 and stands
			// for it; a pass that needed none has only page 1.
			if p.Pass != pass || p.Failed || (p.Page == 1 && held[pageKey{pass, 0}]) {
				continue
			}
			ofPass = append(ofPass, p)
		}
		if x.IDs == nil {
			slices.Reverse(ofPass) // pages is by page: n..2 then 0 (or 1)
		}
		order = append(order, ofPass...)
	}
	d := x.newDeduper(last, emit)
	err = decodeOrdered(ctx, x.Spool, order, nil, d.page)
	if err == nil {
		err = d.finish()
	}
	return d.st, err
}

// deduper passes each ticket of the pages it is given on once, in batches.
// Passes come from the last down, so a ticket met again is a re-read when a
// pass given before this one had it, else a duplicate (pages shifted under
// the read). later holds the ids of the passes already given, cur those of
// this one.
type deduper struct {
	st            RenderStats
	reverse       bool // a page's tickets from its last (a listing's pages)
	spool         *pipeline.Spool
	last, curPass int
	later, cur    *idSet
	batch         []udesk.Ticket
	emit          func([]udesk.Ticket) error
}

func (x *Reader) newDeduper(last int, emit func([]udesk.Ticket) error) *deduper {
	return &deduper{reverse: x.IDs == nil, spool: x.Spool, last: last, curPass: last,
		later: newIDSet(), cur: newIDSet(), batch: make([]udesk.Ticket, 0, renderBatch+x.perPage()), emit: emit}
}

// page takes the tickets of one page, of pass sp.Pass.
func (d *deduper) page(sp pipeline.SpoolPage, pg *udesk.Page) error {
	if sp.Pass != d.curPass {
		d.later.addAll(d.cur)
		d.cur, d.curPass = newIDSet(), sp.Pass
	}
	for i := range pg.Tickets {
		if d.reverse {
			i = len(pg.Tickets) - 1 - i
		}
		t := &pg.Tickets[i]
		d.st.Read++
		if d.later.has(t.ID) {
			d.st.Reread++
			continue
		}
		if !d.cur.add(t.ID) {
			d.st.Duplicates++
			continue
		}
		if sp.Pass == d.last {
			d.st.LastPass++
		}
		d.batch = append(d.batch, *t)
	}
	if len(d.batch) < renderBatch {
		return nil
	}
	return d.flush()
}

func (d *deduper) flush() error {
	d.st.Unique += len(d.batch)
	err := d.emit(d.batch)
	d.batch = d.batch[:0]
	return err
}

// finish takes the tickets no pass listed that Complete found by id, and
// passes on what is left.
func (d *deduper) finish() error {
	d.later.addAll(d.cur)
	pg, err := lookedUp(d.spool)
	if errors.Is(err, fs.ErrNotExist) {
		pg, err = &udesk.Page{}, nil
	}
	if err != nil {
		return err
	}
	for i := range pg.Tickets {
		if t := &pg.Tickets[i]; d.later.add(t.ID) {
			d.batch = append(d.batch, *t)
			d.st.LookedUp++
		}
	}
	if len(d.batch) == 0 {
		return nil
	}
	return d.flush()
}

// decodeOrdered decodes pages on decodeWorkers goroutines and calls fn with
// them in their order, a few pages ahead of fn at most. When wait is set, a
// page is read only once wait(page) returned without an error, and not at
// all when it returned the page decoded.
func decodeOrdered(ctx context.Context, sp *pipeline.Spool, pages []pipeline.SpoolPage, wait func(context.Context, pipeline.SpoolPage) (*udesk.Page, error), fn func(pipeline.SpoolPage, *udesk.Page) error) error {
	type decoded struct {
		pg  *udesk.Page
		err error
	}
	g, ctx := errgroup.WithContext(ctx)
	slots := make(chan chan decoded, 2*decodeWorkers) // in page order; bounds the read-ahead
	g.Go(func() error {
		defer close(slots)
		var dec errgroup.Group
		dec.SetLimit(decodeWorkers)
		defer dec.Wait()
		for _, p := range pages {
			out := make(chan decoded, 1)
			select {
			case slots <- out:
			case <-ctx.Done():
				return nil
			}
			if wait != nil {
				pg, err := wait(ctx, p)
				if err != nil || pg != nil {
					out <- decoded{pg, err}
					if err != nil {
						return nil
					}
					continue
				}
			}
			dec.Go(func() error {
				body, err := sp.Read(p)
				var pg *udesk.Page
				if err == nil {
					pg, err = udesk.DecodePage(body)
				}
				if err != nil {
					err = fmt.Errorf("spooled page %d (pass %d) in %s: %w", p.Page, p.Pass, sp.Dir(), err)
				}
				out <- decoded{pg, err}
				return nil
			})
		}
		return nil
	})
	g.Go(func() error {
		i := 0
		for out := range slots {
			select {
			case r := <-out:
				if r.err != nil {
					return r.err
				}
				if err := fn(pages[i], r.pg); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
			i++
		}
		return ctx.Err() // the feeder stops early only when cancelled
	})
	return g.Wait()
}
