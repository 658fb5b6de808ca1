package listing_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/listing"
	"github.com/udesk-etl/udesk-etl/jobs/listing/listingtest"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

func newSim(t *testing.T, opts udesktest.Options) *udesktest.Server {
	t.Helper()
	sim, err := udesktest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

func each(t *testing.T, api listing.Lister, l udesk.Listing, concurrency int) ([]int64, listing.EachStats, error) {
	t.Helper()
	var ids []int64
	st, err := listing.Each(context.Background(), api, l, listing.EachOptions{Concurrency: concurrency}, func(ts []udesk.Ticket) error {
		for _, tk := range ts {
			ids = append(ids, tk.ID)
		}
		return nil
	})
	return ids, st, err
}

// Every ticket's listing, 3 tickets created and 2 deleted after every page,
// either order: each ticket that existed for the whole read comes once.
func TestEachEveryTicketUnderChurn(t *testing.T) {
	for _, order := range []string{udesktest.OrderOldest, udesktest.OrderNewest} {
		for seed := range uint64(listingtest.Seeds()) {
			t.Run(fmt.Sprintf("%s/seed=%d", order, seed), func(t *testing.T) {
				sim := newSim(t, udesktest.Options{Tickets: 4000, Seed: int64(seed), Order: order})
				before := listingtest.Live(sim, "")
				api := listingtest.NewChurner(listingtest.NewClient(t, sim), sim, "", 3, 2, seed)
				ids, st, err := each(t, api, udesk.Listing{}, 4)
				if err != nil {
					t.Fatal(err)
				}
				if st.Passes < 2 {
					t.Errorf("%d passes: the churn did not show", st.Passes)
				}
				listingtest.CheckOnce(t, "every ticket", ids, listingtest.Throughout(sim, "", before))
			})
		}
	}
}

// One customer's 4,000 tickets (among others'), 3 created and 2 deleted
// after every page: read oldest first, one page at a time once the listing
// moved, no ticket that existed throughout can slip, and each comes once.
func TestEachCustomerUnderChurn(t *testing.T) {
	const email = "churn@example.com"
	for seed := range uint64(listingtest.Seeds()) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			sim := newSim(t, udesktest.Options{Tickets: 500, Seed: int64(seed)})
			for range 4000 {
				sim.CreateTicket(udesktest.Ticket{UserEmail: email})
			}
			before := listingtest.Live(sim, email)
			api := listingtest.NewChurner(listingtest.NewClient(t, sim), sim, email, 3, 2, seed)
			ids, st, err := each(t, api, udesk.Listing{CustomerEmail: email}, 4)
			if err != nil {
				t.Fatal(err)
			}
			if st.Passes < 2 {
				t.Errorf("%d passes: the churn did not show", st.Passes)
			}
			listingtest.CheckOnce(t, "the customer's tickets", ids, listingtest.Throughout(sim, email, before))
		})
	}
}

// A customer's listing that shows the newest first and never holds still
// cannot show that it skipped none: the read fails saying how many may be
// missing, and hands nothing on.
func TestEachCustomerNewestFirstUnderChurnFails(t *testing.T) {
	const email = "churn@example.com"
	sim := newSim(t, udesktest.Options{Order: udesktest.OrderNewest})
	for range 1000 {
		sim.CreateTicket(udesktest.Ticket{UserEmail: email})
	}
	api := listingtest.NewChurner(listingtest.NewClient(t, sim), sim, email, 3, 2, 1)
	ids, _, err := each(t, api, udesk.Listing{CustomerEmail: email}, 1)
	var ie *listing.IncompleteError
	if !errors.As(err, &ie) || ie.Missing == 0 || len(ids) != 0 {
		t.Fatalf("err %v, %d tickets handed on; want an *IncompleteError naming how many may be missing, and none", err, len(ids))
	}
}

// A listing that holds still is read once, in ⌈n/100⌉ pages and page 1
// again, each ticket once.
func TestEachStillListing(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 250, Seed: 4})
	ids, st, err := each(t, listingtest.NewClient(t, sim), udesk.Listing{}, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]bool{}
	for _, id := range listingtest.Live(sim, "") {
		want[id] = true
	}
	listingtest.CheckOnce(t, "every ticket", ids, want)
	// The field catalog is no part of a read in memory.
	if st.Requests != udesk.ListingRequests(250)-1 || st.Passes != 1 || st.Tickets != 250 {
		t.Errorf("stats %+v, want %d requests, 1 pass, 250 tickets", st, udesk.ListingRequests(250)-1)
	}
}

// A spooled read (the sync's) of every ticket, newest first, 3 created and
// 2 deleted after every page: each ticket that existed throughout comes
// once, those the pages let slip looked up by id, and none is possibly
// missing.
func TestFetchSpooledNewestFirstUnderChurn(t *testing.T) {
	for seed := range uint64(listingtest.Seeds()) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			sim := newSim(t, udesktest.Options{Tickets: 4000, Seed: int64(seed), Order: udesktest.OrderNewest})
			before := listingtest.Live(sim, "")
			spool, _, err := pipeline.OpenSpool(filepath.Join(t.TempDir(), "state"), false)
			if err != nil {
				t.Fatal(err)
			}
			defer spool.Close()
			api := listingtest.NewChurner(listingtest.NewClient(t, sim), sim, "", 3, 2, seed)
			l, err := listing.FetchSpooled(context.Background(), api, spool, udesk.Listing{}, listing.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			err = l.Render(context.Background(), func(ts []udesk.Ticket) error {
				for _, tk := range ts {
					ids = append(ids, tk.ID)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			listingtest.CheckOnce(t, "every ticket", ids, listingtest.Throughout(sim, "", before))
			if l.PossiblyMissing() != 0 {
				t.Errorf("%d possibly missing, want none", l.PossiblyMissing())
			}
		})
	}
}
