package listing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// lookupsFile holds, in a store, the tickets Complete found by id (a
// listing reply, so that it decodes like the pages).
const lookupsFile = "lookups.json"

// Completeness is what Complete learned about the tickets of a listing.
type Completeness struct {
	Ran         bool    // the listing changed, so the passes were checked id by id
	Lookups     int     // ids looked up (GET /tickets/:id)
	Found       int     // of them, tickets that exist: added to the read
	Unaccounted []int64 // ids no pass listed and no lookup settled
	// Missing is, for a listing other than every ticket's (whose gaps are
	// tickets it does not select), how many tickets the last pass may have
	// skipped, when it can show none: it was still changing and not read
	// one page at a time from a listing of the oldest first (see Complete).
	Missing int
}

// IncompleteError is returned when a read cannot show that it holds every
// ticket that existed throughout: the listing changed while it was read and
// more ids than the lookup budget are unaccounted for (IDs), or a listing
// other than every ticket's kept changing (Missing). What was read is kept.
type IncompleteError struct {
	Of      string  // the listing
	IDs     []int64 // ids neither listed nor settled by a lookup, lowest first
	Missing int     // without IDs: how many tickets may be missing, at most
}

func (e *IncompleteError) Error() string {
	if e.IDs == nil {
		return fmt.Sprintf("the listing of %s changed while it was read, and kept changing when it was read again: up to %d tickets may be missing; read it again later", e.Of, e.Missing)
	}
	const show = 20
	ids := e.IDs
	more := ""
	if len(ids) > show {
		ids, more = ids[:show], fmt.Sprintf(" and %d more", len(e.IDs)-show)
	}
	return fmt.Sprintf("the listing of %s changed while it was read and %d ticket ids are unaccounted for (neither listed nor looked up): %v%s; read it again later for a complete copy", e.Of, len(e.IDs), ids, more)
}

// Complete makes a read whole when the listing changed while it was read
// (the passes were not stable, the total moved, or tickets were created
// since the reader's Since), or says what it cannot account for.
//
// Of every ticket's listing: deletions shift the pages under a read, and
// pages served out of order can let a new ticket take the place of a
// skipped one, so a pass can miss a ticket that existed throughout without
// its counts showing it. Ticket ids only grow, so such a ticket's id is one
// that no pass listed: a gap between the ids listed, or, when the listing
// shows the newest first (detected from the ids on its pages), an id below
// the lowest listed, pushed past the last page by new tickets. Those ids are
// looked up one by one, up to a budget: a ticket found is added to the read
// (stored in lookupsFile), one not found was deleted. The ids left over are
// Unaccounted.
//
// Of another listing, the gaps are tickets it does not select: its last
// pass is complete when it was stable, or, for a customer's listing, when
// it was read one page at a time (Result.OneAtATime) and every page of it
// lists ids ascending: a listing of the oldest first, which only new
// tickets (appended after the pages read) and deletions (pulling later
// tickets toward page 1, into pages not read yet) change, so that no
// ticket that existed throughout can have been skipped. A filter's tickets
// can also enter it by an update, ahead of the reader, so a filter's read
// is complete only when stable. Otherwise Missing says how many may be
// missing.
func (x *Reader) Complete(ctx context.Context, res *Result) (*Completeness, error) {
	acc := &Completeness{}
	if x.IDs != nil {
		return acc, nil
	}
	if x.Listing != (udesk.Listing{}) {
		if res.Stable || x.Listing.FilterID != 0 || !res.OneAtATime {
			if !res.Stable {
				acc.Missing = max(1, res.Spread)
			}
			return acc, nil
		}
		oldestFirst, err := x.ascending(res.Passes - 1)
		if !oldestFirst {
			acc.Missing = max(1, res.Spread)
		}
		return acc, err
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
	body, err := udesk.EncodePage(found)
	if err != nil {
		return nil, err
	}
	return acc, x.Spool.WriteFile(lookupsFile, body)
}

// createdSince counts the listed tickets created since the reader's Since:
// those the fetch noted, and those on spooled pages whose heads it did not
// read (held from an earlier run).
func (x *Reader) createdSince(res *Result) (int, error) {
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

// ascending reads the heads of pass and reports whether each of its pages
// lists ids ascending (the work is done only for a listing that changed).
func (x *Reader) ascending(pass int) (bool, error) {
	pages, err := x.Spool.Pages()
	if err != nil {
		return false, err
	}
	for _, p := range pages {
		if p.Pass != pass || p.Failed {
			continue
		}
		pg, err := x.readHead(p)
		if err != nil {
			return false, err
		}
		if !slices.IsSorted(pg.IDs) {
			return false, nil
		}
	}
	return true, nil
}

// listedIDs reads the spooled pages' heads of every pass and returns the
// ids listed, sorted, and whether the listing shows the newest first (its
// page 1 lists ids descending). The ids are gathered in a bitset: a million
// take a few hundred kilobytes where a map would take tens of megabytes.
func (x *Reader) listedIDs() (ids []int64, newest bool, err error) {
	pages, err := x.Spool.Pages()
	if err != nil {
		return nil, false, err
	}
	// The ids Render passes on: a pass's end check (page 0) stands for its
	// first read of page 1, whose tickets Render leaves out, so an id only
	// that read listed is one to look up.
	checked := map[int]bool{}
	for _, p := range pages {
		if p.Page == 0 && !p.Failed {
			checked[p.Pass] = true
		}
	}
	seen := newIDSet()
	for _, p := range pages {
		if p.Failed || p.Page == 1 && checked[p.Pass] {
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

// lookedUp is the tickets Complete found, for Render.
func lookedUp(sp *pipeline.Spool) (*udesk.Page, error) {
	body, err := sp.ReadFile(lookupsFile)
	if err != nil {
		return nil, err
	}
	return udesk.DecodePage(body)
}

// Incomplete is the *IncompleteError of what Complete could not account
// for, or nil.
func (x *Reader) Incomplete(acc *Completeness) error {
	switch {
	case len(acc.Unaccounted) > 0:
		return &IncompleteError{Of: x.name(), IDs: acc.Unaccounted}
	case acc.Missing > 0:
		return &IncompleteError{Of: x.name(), Missing: acc.Missing}
	}
	return nil
}
