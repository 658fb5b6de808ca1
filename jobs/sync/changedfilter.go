package sync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// Stamp is what the changed-filter check reads of a ticket: its id and
// when it was last updated.
type Stamp struct {
	ID        int64
	UpdatedAt time.Time
}

// FilterSlack is how much later than the filter's oldest ticket a ticket
// of the previous run must have been updated for its absence to prove that
// the filter selects by something else than the update time: a window of
// "updated in the last N days" moves on while it is read, and Udesk's
// clock is not ours.
const FilterSlack = 10 * time.Minute

// FilterError refuses a changed filter that does not behave as "the
// tickets updated since T", T being the oldest update among its tickets.
// Ticket proves it.
type FilterError struct {
	Filter int64
	// Window: T is not before the previous run's start, so the filter may
	// not reach back to it; Ticket is the filter's oldest (0: it listed
	// none). Otherwise Ticket is a ticket of the previous run, updated
	// after T, that still exists and that the filter left out.
	Window   bool
	Ticket   int64
	Updated  time.Time // Ticket's update time
	Oldest   time.Time // T (zero: the filter listed no ticket)
	Previous time.Time // the previous run's start
}

func (e *FilterError) Error() string {
	at := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch {
	case !e.Window:
		return fmt.Sprintf("changed filter %d does not list the tickets updated since its oldest (%s): ticket %d, updated %s, is not in it and still exists, so the filter selects tickets by something else and a ticket leaving it would stay stale in the dataset; nothing was committed: make the filter select by update time only, or run a full sync (without --changed-filter)",
			e.Filter, at(e.Oldest), e.Ticket, at(e.Updated))
	case e.Ticket == 0:
		return fmt.Sprintf("changed filter %d listed no ticket, so its window may not reach back to the previous run's start (%s) and changes could be missed; nothing was committed: widen the filter's window, or run a full sync (without --changed-filter)",
			e.Filter, at(e.Previous))
	default:
		return fmt.Sprintf("changed filter %d lists no ticket updated before the previous run's start (%s): its oldest, ticket %d, was updated %s, so its window may not reach back and changes could be missed; nothing was committed: widen the filter's window, or run a full sync (without --changed-filter)",
			e.Filter, at(e.Previous), e.Ticket, at(e.Updated))
	}
}

// CheckChangedFilter refuses a changed filter that a merge cannot trust,
// with a *FilterError. listed are the tickets the filter returned,
// previous the previous run's tickets, previousStart that run's start.
// With T the oldest update among listed, every ticket of previous updated
// more than FilterSlack after T must be listed: a ticket that is not, and
// that exists (exists says so; a deleted ticket leaves every filter),
// proves the filter selects by something else (an "open tickets" view
// drops a ticket when it is closed, and the dataset would keep it open).
// And T must lie before previousStart, else the filter's window may not
// reach back to the previous run.
func CheckChangedFilter(ctx context.Context, filter int64, listed, previous []Stamp, previousStart time.Time, exists func(context.Context, int64) (bool, error)) error {
	var oldest Stamp
	in := make(map[int64]bool, len(listed))
	for _, s := range listed {
		in[s.ID] = true
		if oldest.ID == 0 || s.UpdatedAt.Before(oldest.UpdatedAt) {
			oldest = s
		}
	}
	if oldest.ID != 0 {
		var left []Stamp
		for _, s := range previous {
			if !in[s.ID] && s.UpdatedAt.After(oldest.UpdatedAt.Add(FilterSlack)) {
				left = append(left, s)
			}
		}
		// The latest update is the clearest proof.
		slices.SortFunc(left, func(a, b Stamp) int {
			return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), cmp.Compare(a.ID, b.ID))
		})
		for _, s := range left {
			ok, err := exists(ctx, s.ID)
			if err != nil {
				return fmt.Errorf("changed filter %d: looking up ticket %d of the previous run, which it does not list: %w", filter, s.ID, err)
			}
			if ok {
				return &FilterError{Filter: filter, Ticket: s.ID, Updated: s.UpdatedAt, Oldest: oldest.UpdatedAt, Previous: previousStart}
			}
		}
	}
	if oldest.ID == 0 || oldest.UpdatedAt.After(previousStart) {
		return &FilterError{Filter: filter, Window: true, Ticket: oldest.ID, Updated: oldest.UpdatedAt, Oldest: oldest.UpdatedAt, Previous: previousStart}
	}
	return nil
}

// filterChecked runs CheckChangedFilter on a changed-filter run's feed
// after it handed over every ticket, against the latest snapshot of store;
// a failed feed commits nothing.
func filterChecked(feed dataset.TicketFeed, api API, store *dataset.Store, filter int64, previousStart time.Time) dataset.TicketFeed {
	return func(ctx context.Context, emit func([]udesk.Ticket) error) error {
		var listed []Stamp
		err := feed(ctx, func(ts []udesk.Ticket) error {
			for i := range ts {
				at, err := time.Parse(udesk.TimestampLayout, ts[i].UpdatedAt)
				if err != nil {
					return fmt.Errorf("changed filter %d: ticket %d: updated_at %q: want %s", filter, ts[i].ID, ts[i].UpdatedAt, udesk.TimestampLayout)
				}
				listed = append(listed, Stamp{ID: ts[i].ID, UpdatedAt: at})
			}
			return emit(ts)
		})
		if err != nil {
			return err
		}
		// The check looks only at the previous tickets updated after the
		// listing's oldest update (and FilterSlack): only those are held,
		// not a stamp for each of a million tickets.
		var oldest time.Time
		for i, s := range listed {
			if i == 0 || s.UpdatedAt.Before(oldest) {
				oldest = s.UpdatedAt
			}
		}
		var previous []Stamp
		_, err = store.TicketTimes(ctx, func(id int64, at time.Time) error {
			if at.After(oldest.Add(FilterSlack)) {
				previous = append(previous, Stamp{ID: id, UpdatedAt: at})
			}
			return nil
		})
		if err != nil {
			return err
		}
		return CheckChangedFilter(ctx, filter, listed, previous, previousStart, func(ctx context.Context, id int64) (bool, error) {
			_, err := api.Ticket(ctx, id)
			var ue *udesk.Error
			if errors.As(err, &ue) && ue.Code == udesk.StatusTicketNotFound {
				return false, nil
			}
			return err == nil, err
		})
	}
}
