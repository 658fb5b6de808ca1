package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/jobs/listing/listingtest"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// exportedIDs reads the ids of a JSON lines output, failing on a repeat.
func exportedIDs(t *testing.T, path string) map[int64]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var row struct{ ID int64 }
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatal(err)
		}
		if got[row.ID] {
			t.Errorf("ticket %d exported twice", row.ID)
		}
		got[row.ID] = true
	}
	return got
}

// A listing that shows the newest first, a few per page, with tickets
// created and deleted while it is paged: every ticket that existed
// throughout is exported, the ones the pages let slip looked up by id.
func TestRunEveryTicketThatLivedThroughChurnNewestFirst(t *testing.T) {
	// More threads than cores interleave the page requests in the orders
	// that miss tickets (a page's first read seen, its re-read not): with
	// GOMAXPROCS 4 on two cores the bugs this catches showed most runs.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, churn := range []udesktest.Churn{{Every: 1, Create: 2, Delete: 2}, {Every: 1, Create: 3}, {Every: 2, Delete: 3}} {
		sim, c := newSim(t, udesktest.Options{Tickets: 2400, Seed: 5, Order: udesktest.OrderNewest, Churn: churn})
		before := map[int64]bool{}
		for _, tk := range sim.Tickets() {
			before[tk.ID] = true
		}
		out := filepath.Join(t.TempDir(), "t.jsonl")
		rep, err := Run(context.Background(), c, Options{Tenant: sim.URL(), Outputs: []string{out}})
		if err != nil {
			t.Fatalf("churn %+v: %v", churn, err)
		}
		got := exportedIDs(t, out)
		missing := 0
		for _, tk := range sim.Tickets() {
			if before[tk.ID] && !got[tk.ID] {
				missing++
			}
		}
		if missing > 0 || rep.Facts["possibly_missing"] != 0 {
			t.Errorf("churn %+v: %d tickets that lived through the export are missing (report: up to %d; facts %v)", churn, missing, rep.Facts["possibly_missing"], rep.Facts)
		}
		if churn.Delete > 0 && rep.Facts["looked_up"] == 0 {
			t.Errorf("churn %+v: no id was looked up (facts %v)", churn, rep.Facts)
		}
	}
}

// When more ids are unaccounted for than the lookups may clear, the export
// ends with an *IncompleteError listing them, the outputs written.
func TestRunIncompleteWhenTooManyIDsUnaccounted(t *testing.T) {
	sim, c := newSim(t, udesktest.Options{Tickets: 1000, Seed: 2, Churn: udesktest.Churn{Every: 1, Delete: 30}})
	out := filepath.Join(t.TempDir(), "t.jsonl")
	rep, err := Run(context.Background(), c, Options{Tenant: sim.URL(), Outputs: []string{out}})
	var ie *IncompleteError
	if !errors.As(err, &ie) || len(ie.IDs) == 0 || rep == nil || rep.Facts["possibly_missing"] != int64(len(ie.IDs)) {
		t.Fatalf("%v (report %+v), want an *IncompleteError with the ids the report counts", err, rep)
	}
	if rep.Facts["looked_up"] == 0 || !strings.Contains(err.Error(), "unaccounted") {
		t.Errorf("facts %v; error %v", rep.Facts, err)
	}
	if got := exportedIDs(t, out); int64(len(got)) != rep.Written {
		t.Errorf("%d tickets in the output, report says %d written", len(got), rep.Written)
	}
}

// 4,000 tickets, 3 created and 2 deleted before every page, either order,
// several seeds: the export holds every ticket that existed for the whole
// run exactly once.
func TestRunEveryTicketOnceUnderChurn(t *testing.T) {
	for _, order := range []string{udesktest.OrderOldest, udesktest.OrderNewest} {
		for seed := range int64(listingtest.Seeds()) {
			t.Run(fmt.Sprintf("%s/seed=%d", order, seed), func(t *testing.T) {
				sim, c := newSim(t, udesktest.Options{Tickets: 4000, Seed: seed, Order: order,
					Churn: udesktest.Churn{Every: 1, Create: 3, Delete: 2}})
				before := listingtest.Live(sim, "")
				out := filepath.Join(t.TempDir(), "t.jsonl")
				rep, err := Run(context.Background(), c, Options{Tenant: sim.URL(), Outputs: []string{out}})
				if err != nil {
					t.Fatal(err)
				}
				var got []int64
				for id := range exportedIDs(t, out) {
					got = append(got, id)
				}
				listingtest.CheckOnce(t, "the export", got, listingtest.Throughout(sim, "", before))
				if rep.Facts["passes"] < 2 {
					t.Errorf("facts %v: the churn did not show", rep.Facts)
				}
			})
		}
	}
}

// A customer's 2,000 tickets, 3 created and 2 deleted after every page: the
// export holds each ticket that existed throughout once, and says none may
// be missing: read one page at a time, oldest first, none could slip.
func TestRunCustomerUnderChurn(t *testing.T) {
	const email = "churn@example.com"
	sim, c := newSim(t, udesktest.Options{Tickets: 300, Seed: 9})
	for range 2000 {
		sim.CreateTicket(udesktest.Ticket{UserEmail: email})
	}
	before := listingtest.Live(sim, email)
	api := listingtest.NewChurner(c, sim, email, 3, 2, 9)
	out := filepath.Join(t.TempDir(), "t.jsonl")
	rep, err := Run(context.Background(), api, Options{Tenant: sim.URL(), Outputs: []string{out},
		Selector: Selector{Listing: udesk.Listing{CustomerEmail: email}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for id := range exportedIDs(t, out) {
		got = append(got, id)
	}
	listingtest.CheckOnce(t, "the export", got, listingtest.Throughout(sim, email, before))
	if rep.Facts["passes"] < 2 || rep.Facts["possibly_missing"] != 0 {
		t.Errorf("facts %v, want 2 passes and none possibly missing", rep.Facts)
	}
}
