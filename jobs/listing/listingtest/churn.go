// Package listingtest changes a simulated tenant under a reader of a
// listing, as agents and customers do while a long listing is paged: the
// tests of every reader of jobs/listing share it.
package listingtest

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// Churner is a client of a simulator that, after every page of a listing it
// reads, creates Create tickets and deletes Delete tickets chosen at random
// (seeded): of the customer with Email, or of the whole tenant when Email is
// "". Its other requests are the client's own.
type Churner struct {
	*udesk.Client
	Sim            *udesktest.Server
	Email          string
	Create, Delete int

	mu  sync.Mutex
	rng *rand.Rand
	ids []int64 // the live tickets that churn, once known: only the Churner changes them
}

// NewChurner is a Churner of sim through c with the given changes per page.
func NewChurner(c *udesk.Client, sim *udesktest.Server, email string, create, del int, seed uint64) *Churner {
	return &Churner{Client: c, Sim: sim, Email: email, Create: create, Delete: del, rng: rand.New(rand.NewPCG(seed, 7))}
}

// NewClient is the real client of sim, without a request budget.
func NewClient(tb testing.TB, sim *udesktest.Server) *udesk.Client {
	tb.Helper()
	c, err := udesk.NewClient(udesk.Config{BaseURL: sim.URL(), Signer: udesk.NewMD5Signer(sim.Secret())})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func (c *Churner) Page(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.Page, error) {
	p, err := c.Client.Page(ctx, l, page, perPage)
	c.churn()
	return p, err
}

func (c *Churner) PageHead(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.PageHead, error) {
	p, err := c.Client.PageHead(ctx, l, page, perPage)
	c.churn()
	return p, err
}

func (c *Churner) churn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil {
		c.ids = Live(c.Sim, c.Email)
	}
	for range c.Delete {
		if len(c.ids) == 0 {
			break
		}
		i := c.rng.IntN(len(c.ids))
		c.Sim.DeleteTicket(c.ids[i])
		c.ids = append(c.ids[:i], c.ids[i+1:]...)
	}
	for range c.Create {
		c.ids = append(c.ids, c.Sim.CreateTicket(udesktest.Ticket{UserEmail: c.Email}))
	}
}

// Live is the ids of sim's tickets of the customer with email ("": every
// ticket), in list order.
func Live(sim *udesktest.Server, email string) []int64 {
	var ids []int64
	for _, t := range sim.Tickets() {
		if email == "" || strings.EqualFold(t.UserEmail, email) {
			ids = append(ids, t.ID)
		}
	}
	return ids
}

// Throughout is the ids of before that still live in sim: the tickets that
// existed for the whole of a read made in between (ids are never reused).
func Throughout(sim *udesktest.Server, email string, before []int64) map[int64]bool {
	was := map[int64]bool{}
	for _, id := range before {
		was[id] = true
	}
	out := map[int64]bool{}
	for _, id := range Live(sim, email) {
		if was[id] {
			out[id] = true
		}
	}
	return out
}

// CheckOnce fails t unless got holds every id of want, and no id twice.
func CheckOnce(t testing.TB, what string, got []int64, want map[int64]bool) {
	t.Helper()
	seen := map[int64]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("%s: ticket %d returned twice", what, id)
		}
		seen[id] = true
	}
	missing := 0
	for id := range want {
		if !seen[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%s: %d of the %d tickets that existed throughout are missing", what, missing, len(want))
	}
}

// Seeds is how many seeds a churn test tries: 3, or 1 under -short.
func Seeds() int {
	if testing.Short() {
		return 1
	}
	return 3
}
