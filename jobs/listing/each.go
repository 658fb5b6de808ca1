package listing

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// EachOptions say how Each reads.
type EachOptions struct {
	Concurrency int // requests in flight (default 4)
	// OnTotal, when set, is told the listing's total as each pass's page 1
	// tells it; OnTickets how many more tickets were read.
	OnTotal   func(total int)
	OnTickets func(n int)
}

// EachStats is what Each read.
type EachStats struct {
	Tickets  int // tickets handed on, each once
	Requests int // requests made: pages, and ids looked up
	Passes   int // passes over the listing (1 when it did not change)
}

// Each reads listing l once, not resumably, and hands each of its tickets
// to emit once, in batches (the slice is reused after emit returns), with
// the guarantee of a spooled read: every ticket that existed for the whole
// read is handed on exactly once, or the error is an *IncompleteError
// naming what the read could not account for (and nothing was handed on).
// The replies are kept in a temporary spool, removed when Each returns, so
// that memory stays about a bit per ticket whatever the listing's size.
func Each(ctx context.Context, api Lister, l udesk.Listing, opts EachOptions, emit func([]udesk.Ticket) error) (EachStats, error) {
	dir, err := os.MkdirTemp("", "udesk-etl-listing-")
	if err != nil {
		return EachStats{}, err
	}
	defer os.RemoveAll(dir)
	spool, _, err := pipeline.OpenSpool(filepath.Join(dir, "state"), false)
	if err != nil {
		return EachStats{}, err
	}
	defer spool.Close()
	x := NewReader(spool, l, nil, opts.Concurrency)
	x.Pages, x.Tickets = api, api
	x.OnTotal, x.OnTickets = opts.OnTotal, opts.OnTickets
	x.Since = time.Now()
	res, err := x.Fetch(ctx)
	if err != nil {
		return EachStats{}, err
	}
	acc, err := x.Complete(ctx, res)
	if err != nil {
		return EachStats{}, err
	}
	st := EachStats{Requests: res.Fetched + acc.Lookups, Passes: res.Passes}
	if err := x.Incomplete(acc); err != nil {
		return st, err
	}
	rs, err := x.Render(ctx, emit)
	st.Tickets = rs.Unique
	return st, err
}
