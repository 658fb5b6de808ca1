package listing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// fakeList is a listing served in pages of its current order, with hooks to
// change it while it is read and to fail a page once.
type fakeList struct {
	mu      sync.Mutex
	ids     []int64
	calls   map[int]int // page -> requests
	before  func(f *fakeList, page, call int)
	failing map[int]error         // page -> error returned once
	created func(id int64) string // a ticket's created_at (none when nil)
}

func newFakeList(n int) *fakeList {
	f := &fakeList{calls: map[int]int{}, failing: map[int]error{}}
	for i := 1; i <= n; i++ {
		f.ids = append(f.ids, int64(i))
	}
	return f
}

func (f *fakeList) PageHead(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.PageHead, error) {
	body, err := f.body(page, perPage)
	if err != nil {
		return nil, err
	}
	return udesk.DecodePageHead(body)
}

func (f *fakeList) Page(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.Page, error) {
	body, err := f.body(page, perPage)
	if err != nil {
		return nil, err
	}
	return udesk.DecodePage(body)
}

// body is the reply to a request for page.
func (f *fakeList) body(page, perPage int) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[page]++
	if err := f.failing[page]; err != nil {
		delete(f.failing, page)
		return nil, err
	}
	if f.before != nil {
		f.before(f, page, f.calls[page])
	}
	lo := min((page-1)*perPage, len(f.ids))
	hi := min(lo+perPage, len(f.ids))
	var contents []map[string]any
	for _, id := range f.ids[lo:hi] {
		t := map[string]any{"id": id, "subject": fmt.Sprintf("t%d", id), "custom_fields": map[string]string{"TextField_1": "x"}}
		if f.created != nil {
			t["created_at"] = f.created(id)
		}
		contents = append(contents, t)
	}
	body, _ := json.Marshal(map[string]any{"status": 0, "message": "ok", "size": len(contents),
		"total": len(f.ids), "total_pages": (len(f.ids) + perPage - 1) / perPage, "contents": contents})
	return body, nil
}

func (f *fakeList) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

func newSpool(t *testing.T) *pipeline.Spool {
	t.Helper()
	s, _, err := pipeline.OpenSpool(filepath.Join(t.TempDir(), "state"), false)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func renderIDs(t *testing.T, x *Reader) ([]int64, RenderStats) {
	t.Helper()
	var ids []int64
	st, err := x.Render(context.Background(), func(ts []udesk.Ticket) error {
		for _, tk := range ts {
			ids = append(ids, tk.ID)
			if tk.Subject != fmt.Sprintf("t%d", tk.ID) {
				t.Errorf("ticket %d rendered with subject %q", tk.ID, tk.Subject)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, st
}

func seq(lo, hi int64) []int64 {
	var s []int64
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

// reversed is the listing ids in the order Render gives them: the listing's
// reverse (its pages from the last, each page's tickets from its last).
func reversed(ids []int64) []int64 {
	r := slices.Clone(ids)
	slices.Reverse(r)
	return r
}

func TestReadListingRequestsAndOrder(t *testing.T) {
	for _, n := range []int{0, 1, 100, 101, 250, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := newFakeList(n)
			var total, read int
			x := &Reader{Spool: newSpool(t), Pages: f, PerPage: 100,
				OnTotal: func(n int) { total += n }, OnTickets: func(n int) { read += n }}
			res, err := x.Fetch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			pages := max((n+99)/100, 1)
			want := pages + 1 // the end check
			if pages == 1 {
				want = 1 // one reply is one consistent read
			}
			if got := f.requests(); got != want || res.Fetched != want {
				t.Errorf("%d requests (%d counted), want %d", got, res.Fetched, want)
			}
			if !res.Stable || res.Passes != 1 || res.Total != n || res.StartTotal != n {
				t.Errorf("result %+v, want one stable pass over %d", res, n)
			}
			if total != n || read != n {
				t.Errorf("progress: total %d, read %d; want %d", total, read, n)
			}
			ids, st := renderIDs(t, x)
			if want := reversed(seq(1, int64(n))); !slices.Equal(ids, want) {
				t.Errorf("rendered %d ids %v..., want %d..1 in order", len(ids), ids[:min(5, len(ids))], n)
			}
			if st.Duplicates != 0 || st.Unique != n || st.LastPass != n {
				t.Errorf("render stats %+v", st)
			}
		})
	}
}

func TestReadResumeFetchesOnlyMissingPages(t *testing.T) {
	f := newFakeList(950)
	f.failing[7] = errors.New("connection reset")
	sp := newSpool(t)
	x := &Reader{Spool: sp, Pages: f, Workers: 1}
	if _, err := x.Fetch(context.Background()); err == nil {
		t.Fatal("Fetch succeeded despite a failing page")
	}
	heldBefore, _ := sp.Pages()
	before := map[int]int{}
	for p, c := range f.calls {
		before[p] = c
	}
	x2 := &Reader{Spool: sp, Pages: f, Workers: 3}
	res, err := x2.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Held != len(heldBefore) {
		t.Errorf("Held = %d, want %d", res.Held, len(heldBefore))
	}
	for _, p := range heldBefore {
		again := f.calls[p.Page] - before[p.Page]
		if p.Page == 1 {
			again-- // the end check, not held yet, reads page 1
		}
		if p.Page > 0 && again != 0 {
			t.Errorf("page %d was held and fetched again", p.Page)
		}
	}
	if f.calls[7] != 2 {
		t.Errorf("page 7 requested %d times, want 2 (failed, then resumed)", f.calls[7])
	}
	ids, _ := renderIDs(t, x2)
	if !slices.Equal(ids, reversed(seq(1, 950))) {
		t.Errorf("rendered %d tickets, want 950..1", len(ids))
	}
	// A third run finds everything held and asks for nothing.
	n := f.requests()
	if _, err := (&Reader{Spool: sp, Pages: f}).Fetch(context.Background()); err != nil || f.requests() != n {
		t.Errorf("a run over a full spool made %d requests (err %v)", f.requests()-n, err)
	}
}

func TestReadChurnRereads(t *testing.T) {
	// Tickets deleted at the front while pages are read shift the rest
	// toward page 1; the totals differ, so the listing is read again.
	f := newFakeList(500)
	deleted := map[int64]bool{}
	f.before = func(f *fakeList, page, call int) {
		if page == 3 && call == 1 {
			for _, id := range f.ids[:30] {
				deleted[id] = true
			}
			f.ids = f.ids[30:]
		}
	}
	x := &Reader{Spool: newSpool(t), Pages: f, Workers: 1}
	res, err := x.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Passes != 2 || !res.Stable || res.StartTotal != 500 || res.Total != 470 {
		t.Errorf("result %+v; want a second, stable pass, totals 500 then 470", res)
	}
	ids, st := renderIDs(t, x)
	got := map[int64]bool{}
	for _, id := range ids {
		if got[id] {
			t.Errorf("ticket %d rendered twice", id)
		}
		got[id] = true
	}
	for id := int64(1); id <= 500; id++ {
		if !deleted[id] && !got[id] {
			t.Errorf("ticket %d existed throughout but is missing", id)
		}
	}
	if st.LastPass != 470 || st.Unique < 470 {
		t.Errorf("render stats %+v", st)
	}
	// The last pass comes first (the freshest read wins), from its last
	// page (ids 401..500 when 470 tickets are left).
	if ids[0] != 500 {
		t.Errorf("first rendered ticket %d, want 500 (the last pass's last page)", ids[0])
	}
}

func TestReadOnePassSurvivesDeletions(t *testing.T) {
	// Deletions anywhere before every request: reading toward page 1, and
	// page 1 last, still sees every ticket that was never deleted.
	f := newFakeList(2000)
	rng := rand.New(rand.NewPCG(1, 2))
	deleted := map[int64]bool{}
	f.before = func(f *fakeList, page, call int) {
		for range 7 {
			i := rng.IntN(len(f.ids))
			deleted[f.ids[i]] = true
			f.ids = slices.Delete(f.ids, i, i+1)
		}
	}
	x := &Reader{Spool: newSpool(t), Pages: f, Workers: 1, MaxPasses: 1}
	res, err := x.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Stable {
		t.Errorf("result %+v: the totals changed, yet the pass is called stable", res)
	}
	ids, _ := renderIDs(t, x)
	got := map[int64]bool{}
	for _, id := range ids {
		got[id] = true
	}
	for id := int64(1); id <= 2000; id++ {
		if !deleted[id] && !got[id] {
			t.Errorf("ticket %d was never deleted but is missing", id)
		}
	}
}

func TestReadBalancedChurnRereads(t *testing.T) {
	// One ticket deleted and one created before every request: the total
	// never changes, but the shifted pages hold tickets twice.
	f := newFakeList(600)
	next := int64(10000)
	f.before = func(f *fakeList, page, call int) {
		f.ids = slices.Delete(f.ids, 50, 51)
		f.ids = append(f.ids, next)
		next++
	}
	x := &Reader{Spool: newSpool(t), Pages: f, Workers: 1}
	res, err := x.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Passes != 2 || res.StartTotal != 600 || res.Total != 600 {
		t.Errorf("result %+v; want a second pass though the total stayed 600", res)
	}
}

func TestReadUnstableListingStopsAfterMaxPasses(t *testing.T) {
	f := newFakeList(300)
	next := int64(10000)
	f.before = func(f *fakeList, page, call int) {
		if page == 2 { // a new ticket in front during every pass
			f.ids = append([]int64{next}, f.ids...)
			next++
		}
	}
	x := &Reader{Spool: newSpool(t), Pages: f, Workers: 1, MaxPasses: 2}
	res, err := x.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Passes != 2 || res.Stable || res.Spread != 1 {
		t.Errorf("result %+v; want 2 unstable passes with a spread of 1", res)
	}
}

// gatePages blocks the first want calls until want are in flight at once.
type gatePages struct {
	*fakeList
	want    int
	mu      sync.Mutex
	waiting int
	open    chan struct{}
}

func (g *gatePages) PageHead(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.PageHead, error) {
	if err := g.gate(page); err != nil {
		return nil, err
	}
	return g.fakeList.PageHead(ctx, l, page, perPage)
}

func (g *gatePages) Page(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.Page, error) {
	if err := g.gate(page); err != nil {
		return nil, err
	}
	return g.fakeList.Page(ctx, l, page, perPage)
}

func (g *gatePages) gate(page int) error {
	if page != 1 {
		g.mu.Lock()
		g.waiting++
		if g.waiting == g.want {
			close(g.open)
		}
		g.mu.Unlock()
		select {
		case <-g.open:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("page %d: only %d requests in flight, want %d", page, g.waiting, g.want)
		}
	}
	return nil
}

func TestReadKeepsWorkersBusy(t *testing.T) {
	g := &gatePages{fakeList: newFakeList(1000), want: 4, open: make(chan struct{})}
	x := &Reader{Spool: newSpool(t), Pages: g, Workers: 4}
	if _, err := x.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
}

type fakeTickets map[int64]bool

func (f fakeTickets) Ticket(_ context.Context, id int64) (*udesk.Ticket, error) {
	if !f[id] {
		return nil, &udesk.Error{Code: 1003, Message: "未找到相应工单", Method: "GET", Path: fmt.Sprintf("/api/v1/tickets/%d.json", id), Class: udesk.Permanent}
	}
	return &udesk.Ticket{ID: id, Subject: fmt.Sprintf("t%d", id), CustomFields: udesk.CustomFields{"SelectField_3": "0,3"}}, nil
}

type countingTickets struct {
	fakeTickets
	mu    sync.Mutex
	calls map[int64]int
}

func (c *countingTickets) Ticket(ctx context.Context, id int64) (*udesk.Ticket, error) {
	c.mu.Lock()
	c.calls[id]++
	c.mu.Unlock()
	return c.fakeTickets.Ticket(ctx, id)
}

func TestReadIDs(t *testing.T) {
	ft := &countingTickets{fakeTickets: fakeTickets{1: true, 2: true, 5: true}, calls: map[int64]int{}}
	sp := newSpool(t)
	ids := []int64{5, 4, 1, 2}
	x := &Reader{Spool: sp, IDs: ids, Tickets: ft}
	res, err := x.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || res.Failed[0].ID != 4 || res.Fetched != 4 {
		t.Fatalf("result %+v; want id 4 failed, 4 requests", res)
	}
	// A rerun asks for nothing and still knows the failure.
	res, err = (&Reader{Spool: sp, IDs: ids, Tickets: ft}).Fetch(context.Background())
	if err != nil || res.Fetched != 0 || len(res.Failed) != 1 || res.Held != 4 {
		t.Errorf("rerun: %+v, %v", res, err)
	}
	for id, n := range ft.calls {
		if n != 1 {
			t.Errorf("id %d requested %d times", id, n)
		}
	}
	var got []int64
	_, err = x.Render(context.Background(), func(ts []udesk.Ticket) error {
		for _, tk := range ts {
			got = append(got, tk.ID)
			if tk.CustomFields["SelectField_3"] != "0,3" {
				t.Errorf("ticket %d custom fields %v after the spool", tk.ID, tk.CustomFields)
			}
		}
		return nil
	})
	if err != nil || !slices.Equal(got, []int64{5, 1, 2}) {
		t.Errorf("rendered %v, %v; want 5 1 2", got, err)
	}
}

func TestReadStopsOnOtherErrors(t *testing.T) {
	f := newFakeList(500)
	f.failing[3] = &udesk.Error{Code: 2002, Message: "签名错", Class: udesk.Permanent}
	_, err := (&Reader{Spool: newSpool(t), Pages: f}).Fetch(context.Background())
	var ue *udesk.Error
	if !errors.As(err, &ue) || ue.Code != 2002 {
		t.Errorf("err = %v, want the 2002 error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The fake ignores ctx; the worker pool must not.
	if _, err := (&Reader{Spool: newSpool(t), Pages: newFakeList(500)}).Fetch(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("fetch under a cancelled context: %v, want context.Canceled", err)
	}
}
