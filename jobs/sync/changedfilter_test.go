package sync

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

func TestCheckChangedFilter(t *testing.T) {
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	start := at(60)                                         // the previous run's start
	listed := []Stamp{{1, at(30)}, {2, at(90)}, {3, at(5)}} // T is ticket 3's update, at(5)
	alive := func(ids ...int64) func(context.Context, int64) (bool, error) {
		return func(_ context.Context, id int64) (bool, error) {
			for _, a := range ids {
				if a == id {
					return true, nil
				}
			}
			return false, nil
		}
	}
	for _, tc := range []struct {
		name     string
		listed   []Stamp
		previous []Stamp
		alive    []int64
		window   bool
		ticket   int64 // the ticket the error names; 0: accepted
	}{
		{name: "every later ticket listed", listed: listed, previous: []Stamp{{1, at(20)}, {3, at(5)}, {4, at(1)}}},
		{name: "within the slack of T", listed: listed, previous: []Stamp{{5, at(5 + 10)}}, alive: []int64{5}},
		{name: "a later ticket left out", listed: listed, previous: []Stamp{{5, at(16)}, {6, at(50)}, {1, at(20)}}, alive: []int64{5, 6}, ticket: 6},
		{name: "a later ticket left out because it was deleted", listed: listed, previous: []Stamp{{6, at(50)}}},
		{name: "the latest alive one proves it", listed: listed, previous: []Stamp{{6, at(50)}, {7, at(40)}, {8, at(45)}}, alive: []int64{7, 8}, ticket: 8},
		{name: "T after the previous run's start", listed: []Stamp{{2, at(90)}, {9, at(61)}}, window: true, ticket: 9},
		{name: "nothing listed", window: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckChangedFilter(context.Background(), 6, tc.listed, tc.previous, start, alive(tc.alive...))
			if tc.ticket == 0 && !tc.window {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *FilterError
			if !errors.As(err, &fe) || fe.Window != tc.window || fe.Ticket != tc.ticket || fe.Filter != 6 || !fe.Previous.Equal(start) {
				t.Fatalf("got %#v (%v), want a FilterError (window %v) naming ticket %d", err, err, tc.window, tc.ticket)
			}
			if tc.ticket != 0 && !strings.Contains(err.Error(), "ticket "+strconv.FormatInt(tc.ticket, 10)+",") {
				t.Fatalf("message does not name ticket %d: %v", tc.ticket, err)
			}
		})
	}
	lookupFailed := errors.New("no route")
	err := CheckChangedFilter(context.Background(), 6, listed, []Stamp{{6, at(50)}}, start, func(context.Context, int64) (bool, error) { return false, lookupFailed })
	if !errors.Is(err, lookupFailed) {
		t.Fatalf("a failed lookup: got %v", err)
	}
}

// A filter of the open tickets is not a view of recent updates: a ticket
// closed since the previous run leaves it and would stay open in the
// dataset. The run refuses it, naming a ticket it left out, and commits
// nothing.
func TestChangedFilterOfOpenTicketsIsRefused(t *testing.T) {
	tn := newTenant(t, udesktest.Options{Tickets: 400, Seed: 3})
	dir := filepath.Join(t.TempDir(), "dataset")
	opts := tn.options(dir)
	opts.ChangedFilter = 1 // the open tickets
	tn.syncOK(t, opts)
	for _, tk := range tn.Tickets() {
		if tk.Status == "open" {
			tn.UpdateTicket(tk.ID, func(t *udesktest.Ticket) { t.Status = "closed" })
			break
		}
	}
	_, err := Run(context.Background(), tn.client, opts)
	var fe *FilterError
	if !errors.As(err, &fe) || fe.Window {
		t.Fatalf("got %v, want the filter refused for a ticket it leaves out", err)
	}
	proof, ok := tn.Ticket(fe.Ticket)
	if !ok || proof.Status == "open" || !fe.Updated.After(fe.Oldest.Add(FilterSlack)) {
		t.Fatalf("ticket %d (alive %v, status %q, updated %s, T %s) proves nothing", fe.Ticket, ok, proof.Status, fe.Updated, fe.Oldest)
	}
	if !strings.Contains(err.Error(), "nothing was committed") {
		t.Fatalf("message: %v", err)
	}
	if runs := published(t, dir); len(runs) != 1 {
		t.Fatalf("%d runs published after a refused filter", len(runs))
	}
}

// A recently updated ticket that was deleted leaves the filter too: the
// run looks it up, finds it gone, and merges.
func TestChangedFilterAcceptsATicketLeftOutBecauseDeleted(t *testing.T) {
	tn := newTenant(t, udesktest.Options{Tickets: 400, Seed: 3})
	dir := filepath.Join(t.TempDir(), "dataset")
	opts := tn.options(dir)
	opts.ChangedFilter = udesktest.RecentFilter
	first := tn.Tickets()[0].ID
	tn.UpdateTicket(first, func(t *udesktest.Ticket) { t.Subject += "!" }) // updated now: in the filter
	tn.syncOK(t, opts)
	tn.DeleteTicket(first)
	before := tn.Requests()[udesktest.EndpointTicket]
	rep, _ := tn.syncOK(t, opts)
	if rep.Full || rep.Run.Counts.Tickets != 400 {
		t.Fatalf("second run: full %v, counts %+v", rep.Full, rep.Run.Counts)
	}
	if n := tn.Requests()[udesktest.EndpointTicket] - before; n != 1 {
		t.Fatalf("%d lookups, want 1 (the deleted ticket)", n)
	}
}
