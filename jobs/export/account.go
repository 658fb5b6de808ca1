package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// lookupsFile holds, in a snapshot, the tickets that accounting found by id
// (a listing reply, so that it decodes like the pages).
const lookupsFile = "lookups.json"

// accounting is what account learned about the tickets of an all-tickets
// listing that changed while it was read.
type accounting struct {
	Ran         bool    // the listing changed, so the passes were checked id by id
	Lookups     int     // ids looked up (GET /tickets/:id)
	Found       int     // of them, tickets that exist: added to the export
	Unaccounted []int64 // ids no pass listed and no lookup settled
}

// IncompleteError is returned, with the report, when an export of every
// ticket cannot show that it holds every ticket that existed throughout: the
// listing changed while it was read and more ids than the lookup budget are
// unaccounted for. The outputs hold what was read.
type IncompleteError struct {
	IDs []int64 // ids neither listed nor settled by a lookup, lowest first
}

func (e *IncompleteError) Error() string {
	const show = 20
	ids := e.IDs
	more := ""
	if len(ids) > show {
		ids, more = ids[:show], fmt.Sprintf(" and %d more", len(e.IDs)-show)
	}
	return fmt.Sprintf("the listing changed while it was read and %d ticket ids are unaccounted for (neither listed nor looked up): %v%s; export again later for a complete copy", len(e.IDs), ids, more)
}

// account makes an export of every ticket complete when the listing
// changed while it was read (the passes were not stable, the total moved, or
// tickets were created since the fetcher's Since). Deletions shift the pages under a
// read, and pages served out of order can let a new ticket take the place of
// a skipped one, so a pass can miss a ticket that existed throughout without
// its counts showing it. Ticket ids only grow, so such a ticket's id is one
// that no pass listed: a gap between the ids listed, or, when the listing
// shows the newest first (detected from the ids on its pages), an id below
// the lowest listed, pushed past the last page by new tickets. Those ids are
// looked up one by one, up to a budget: a ticket found is added to the
// export (spooled in lookupsFile), one not found was deleted. The ids left
// over are Unaccounted. Other selectors are left as read: their gaps are
// tickets they do not select.
func (x *fetcher) account(ctx context.Context, res *fetchResult) (*accounting, error) {
	acc := &accounting{}
	if x.Selector.IDs != nil || x.Selector.Listing != (udesk.Listing{}) {
		return acc, nil
	}
	// The common case, one pass that saw no change, is settled from what the
	// fetch read; the ids of every pass are gathered only when it changed.
	created, err := x.createdSince(res)
	if err != nil {
		return acc, err
	}
	deleted := created + max(0, res.StartTotal-res.Total) // tickets gone during the read, about
	if res.Stable && res.Passes == 1 && deleted == 0 {
		return acc, nil
	}
	ids, newest, err := x.listedIDs()
	if err != nil || len(ids) == 0 {
		return acc, err
	}
	acc.Ran = true
	// The budget grows with the change seen, within a tenth of the listing.
	n := len(ids)
	budget := min(max(100, n/50)+deleted, max(100, n/10))
	var want []int64
	for i := 1; i < n && len(want) <= budget; i++ {
		for id := ids[i-1] + 1; id < ids[i] && len(want) <= budget; id++ {
			want = append(want, id)
		}
	}
	for id, pushed := ids[0]-1, 0; newest && id > 0 && pushed < created && len(want) <= budget; id, pushed = id-1, pushed+1 {
		want = append(want, id)
	}
	slices.Sort(want)
	if len(want) > budget {
		acc.Unaccounted = want[budget:]
		want = want[:budget]
	}
	var mu sync.Mutex
	var found []*udesk.Ticket
	err = forEach(ctx, x.workers(), indexes(len(want)), func(ctx context.Context, i int) error {
		t, err := x.Tickets.Ticket(ctx, want[i])
		var ue *udesk.Error
		if errors.As(err, &ue) && ue.Code == udesk.StatusTicketNotFound {
			err, t = nil, nil
		}
		if err != nil {
			return fmt.Errorf("looking up ticket %d (not listed while the listing changed): %w", want[i], err)
		}
		mu.Lock()
		defer mu.Unlock()
		acc.Lookups++
		if t != nil {
			found = append(found, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	acc.Found = len(found)
	body, err := json.Marshal(onePage{Total: len(found), TotalPages: 1, Size: len(found), Contents: found})
	if err != nil {
		return nil, err
	}
	return acc, x.Spool.WriteFile(lookupsFile, body)
}

// createdSince counts the listed tickets created since the fetcher's Since:
// those the fetch noted, and those on spooled pages whose heads it did not
// read (held from an earlier run).
func (x *fetcher) createdSince(res *fetchResult) (int, error) {
	pages, err := x.Spool.Pages()
	if err != nil {
		return 0, err
	}
	for _, p := range pages {
		if p.Failed || res.heads[pageKey{p.Pass, p.Page}] {
			continue
		}
		pg, err := x.readHead(p)
		if err != nil {
			return 0, err
		}
		x.noteCreated(res, pg)
	}
	return res.created.len(), nil
}

// listedIDs reads the spooled pages' heads of every pass and returns the
// ids listed, sorted, and whether the listing shows the newest first (its
// page 1 lists ids descending). The ids are gathered in a bitset: a million
// take a few hundred kilobytes where a map would take tens of megabytes.
func (x *fetcher) listedIDs() (ids []int64, newest bool, err error) {
	pages, err := x.Spool.Pages()
	if err != nil {
		return nil, false, err
	}
	seen := newIDSet()
	for _, p := range pages {
		if p.Failed {
			continue
		}
		pg, err := x.readHead(p)
		if err != nil {
			return nil, false, err
		}
		if n := len(pg.IDs); p.Page <= 1 && n > 1 {
			newest = pg.IDs[0] > pg.IDs[n-1]
		}
		for _, id := range pg.IDs {
			seen.add(id)
		}
	}
	return seen.sorted(), newest, nil
}

// indexes is 0..n-1, the items of forEach over a slice.
func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// lookedUp is the tickets account found, for Render.
func lookedUp(sp *pipeline.Spool) (*udesk.Page, error) {
	body, err := sp.ReadFile(lookupsFile)
	if err != nil {
		return nil, err
	}
	return udesk.DecodePage(body)
}
