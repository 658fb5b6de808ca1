package export

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sync/errgroup"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// renderStats counts what Render passed on and what it dropped.
type renderStats struct {
	Read       int // tickets in the spooled pages rendered (repeats included)
	Unique     int // tickets passed on
	Duplicates int // a ticket met again in the same pass (pages shifted under the read)
	Reread     int // a ticket met again in an earlier pass (a re-read, not a duplicate)
	LastPass   int // distinct tickets in the last pass
	LookedUp   int // tickets no pass listed, found by id (account)
}

// decodeWorkers decode spooled pages while the caller writes the previous ones.
const decodeWorkers = 2

// renderBatch is how many tickets Render hands on at once, at least.
const renderBatch = 500

// Render decodes the spooled pages and hands each ticket to emit once, in
// batches: the last pass first (the freshest read of a ticket wins), then
// tickets only earlier passes saw; within a pass, in page order (the end
// check standing for page 1). The slice
// passed to emit is reused after emit returns.
func (x *fetcher) Render(ctx context.Context, emit func([]udesk.Ticket) error) (renderStats, error) {
	var st renderStats
	pages, err := x.Spool.Pages()
	if err != nil {
		return st, err
	}
	last := 0
	var order []pipeline.SpoolPage
	held := make(map[pageKey]bool, len(pages))
	for _, p := range pages {
		last = max(last, p.Pass)
		held[pageKey{p.Pass, p.Page}] = !p.Failed
	}
	for pass := last; pass >= 0; pass-- {
		for _, p := range pages {
			// The end check (page 0) is the later read of page 1 and stands
			// for it; a pass that needed none has only page 1.
			if p.Pass != pass || p.Failed || (p.Page == 1 && held[pageKey{pass, 0}]) {
				continue
			}
			order = append(order, p)
		}
	}
	// Passes come from the last down, so a ticket met again is a re-read
	// when a pass rendered before this one had it, else a duplicate. later
	// holds the ids of the passes already rendered, cur those of this one.
	later, cur, curPass := newIDSet(), newIDSet(), last
	batch := make([]udesk.Ticket, 0, renderBatch+x.perPage())
	err = decodeOrdered(ctx, x.Spool, order, func(sp pipeline.SpoolPage, pg *udesk.Page) error {
		if sp.Pass != curPass {
			later.addAll(cur)
			cur, curPass = newIDSet(), sp.Pass
		}
		for i := range pg.Tickets {
			t := &pg.Tickets[i]
			st.Read++
			if later.has(t.ID) {
				st.Reread++
				continue
			}
			if !cur.add(t.ID) {
				st.Duplicates++
				continue
			}
			if sp.Pass == last {
				st.LastPass++
			}
			batch = append(batch, *t)
		}
		if len(batch) < renderBatch {
			return nil
		}
		st.Unique += len(batch)
		err := emit(batch)
		batch = batch[:0]
		return err
	})
	if err == nil {
		// Then the tickets no pass listed that account found by id.
		later.addAll(cur)
		var pg *udesk.Page
		if pg, err = lookedUp(x.Spool); errors.Is(err, fs.ErrNotExist) {
			pg, err = &udesk.Page{}, nil
		}
		for i := range pg.Tickets {
			if t := &pg.Tickets[i]; err == nil && later.add(t.ID) {
				batch = append(batch, *t)
				st.LookedUp++
			}
		}
	}
	if err == nil && len(batch) > 0 {
		st.Unique += len(batch)
		err = emit(batch)
	}
	return st, err
}

// decodeOrdered decodes pages on decodeWorkers goroutines and calls fn with
// them in their order, a few pages ahead of fn at most.
func decodeOrdered(ctx context.Context, sp *pipeline.Spool, pages []pipeline.SpoolPage, fn func(pipeline.SpoolPage, *udesk.Page) error) error {
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
