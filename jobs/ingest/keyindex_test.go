package ingest

import (
	"context"
	"fmt"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/listing/listingtest"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// 4,000 tickets, 300 of them keyed, 3 created and 2 deleted before every
// page, either order: the key index holds each keyed ticket that existed
// for the whole listing exactly once, under its key.
func TestKeyIndexUnderChurn(t *testing.T) {
	for _, order := range []string{udesktest.OrderOldest, udesktest.OrderNewest} {
		for seed := range int64(listingtest.Seeds()) {
			t.Run(fmt.Sprintf("%s/seed=%d", order, seed), func(t *testing.T) {
				sim, err := udesktest.NewServer(udesktest.Options{Tickets: 4000, Seed: seed, Order: order,
					Churn: udesktest.Churn{Every: 1, Create: 3, Delete: 2}})
				if err != nil {
					t.Fatal(err)
				}
				defer sim.Close()
				keyOf := map[int64]string{}
				for i := range 300 {
					id := int64(1 + i*13)
					keyOf[id] = fmt.Sprintf("K-%d", i)
					sim.UpdateTicket(id, func(tk *udesktest.Ticket) { tk.CustomFields["TextField_1"] = keyOf[id] })
				}
				before := listingtest.Live(sim, "")
				idx, err := listKeys(context.Background(), listingtest.NewClient(t, sim), "TextField_1", pipeline.Quiet{})
				if err != nil {
					t.Fatal(err)
				}
				for key, tickets := range idx.ByKey {
					seen := map[int64]bool{}
					for _, tk := range tickets {
						if seen[tk.ID] {
							t.Errorf("key %q: ticket %d indexed twice (a false duplicate_key)", key, tk.ID)
						}
						seen[tk.ID] = true
					}
				}
				for id := range listingtest.Throughout(sim, "", before) {
					if key, ok := keyOf[id]; ok && (len(idx.ByKey[key]) != 1 || idx.ByKey[key][0].ID != id) {
						t.Errorf("key %q: indexed as %d tickets, want ticket %d once (a missed key is a second ticket)", key, len(idx.ByKey[key]), id)
					}
				}
			})
		}
	}
}

// A customer's 4,000 tickets, 3 created and 2 deleted after every page:
// the settle lookup returns each ticket that existed throughout once.
func TestCustomerTicketsUnderChurn(t *testing.T) {
	const email = "churn@example.com"
	for seed := range uint64(listingtest.Seeds()) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			sim, err := udesktest.NewServer(udesktest.Options{Tickets: 500, Seed: int64(seed)})
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			for range 4000 {
				sim.CreateTicket(udesktest.Ticket{UserEmail: email})
			}
			before := listingtest.Live(sim, email)
			s := &sender{api: listingtest.NewChurner(listingtest.NewClient(t, sim), sim, email, 3, 2, seed)}
			tickets, err := s.customerTickets(context.Background(), email)
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]int64, len(tickets))
			for i, tk := range tickets {
				ids[i] = tk.ID
			}
			listingtest.CheckOnce(t, "the customer's tickets", ids, listingtest.Throughout(sim, email, before))
		})
	}
}
