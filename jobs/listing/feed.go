package listing

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// ErrAbandoned ends a live render whose pass is not the read's last.
var ErrAbandoned = errors.New("the listing is read again; rendering from the store instead")

// RenderFirstPass hands each ticket of the first pass to emit once, in
// batches, while Fetch still reads it (x.Live must be set): the pages in
// the order Render takes them, each once it is stored. It returns
// ErrAbandoned when the listing is read again: then Render renders the read
// afterwards. The Rendering it returns is finished, after Complete, with
// the tickets Complete found.
func (x *Reader) RenderFirstPass(ctx context.Context, emit func([]udesk.Ticket) error) (*Rendering, error) {
	f := x.Live
	var order []int
	select {
	case order = <-f.plan:
	case <-f.stop:
		return nil, ErrAbandoned
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r := &Rendering{d: x.newDeduper(0, emit)}
	pages := make([]pipeline.SpoolPage, len(order))
	for i, page := range order {
		pages[i] = pipeline.SpoolPage{Page: page}
	}
	return r, decodeOrdered(ctx, x.Spool, pages, func(ctx context.Context, p pipeline.SpoolPage) (*udesk.Page, error) {
		return f.wait(ctx, p.Page)
	}, r.d.page)
}

// Rendering is a first pass rendered live.
type Rendering struct{ d *deduper }

// Stats is what the render passed on and dropped so far.
func (r *Rendering) Stats() RenderStats { return r.d.st }

// Finish passes on the tickets Complete found by id and what is left.
func (r *Rendering) Finish() (RenderStats, error) {
	err := r.d.finish()
	return r.d.st, err
}

// Abandoned is closed once the feed is abandoned.
func (f *Feed) Abandoned() <-chan struct{} { return f.stop }

// Started says the first pass's plan was sent: a live render of it began.
func (f *Feed) Started() bool { return f.started.Load() }

// Feed tells a live render (RenderFirstPass) which pages of the first pass
// to render, in which order, and when each is spooled, with the page as the
// fetch decoded it while the render keeps up (maxDecoded pages wait at
// most; past that the render reads and decodes them from the spool). A
// Reader whose Live is set feeds it.
type Feed struct {
	plan     chan []int    // the pass's pages in render order, sent once
	started  atomic.Bool   // plan was sent
	stop     chan struct{} // closed by Abandon
	stopOnce sync.Once

	mu      sync.Mutex
	ready   map[int]chan struct{} // closed once the page is spooled
	decoded map[int]*udesk.Page   // pages spooled and not yet rendered
}

// maxDecoded bounds the decoded pages waiting for the render: a few MB.
const maxDecoded = 32

// NewFeed is a Feed for a Reader's Live.
func NewFeed() *Feed {
	return &Feed{plan: make(chan []int, 1), stop: make(chan struct{}), ready: map[int]chan struct{}{}, decoded: map[int]*udesk.Page{}}
}

func (f *Feed) signal(page int) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.ready[page]
	if c == nil {
		c = make(chan struct{})
		f.ready[page] = c
	}
	return c
}

// start sends the plan of a pass of n pages: from the last page to page 2,
// then the end check (page 0) standing for page 1, or page 1 alone. held
// says which pages an earlier run spooled: they are ready now.
func (f *Feed) start(n int, held func(page int) bool) {
	order := make([]int, 0, n)
	for page := n; page >= 2; page-- {
		order = append(order, page)
	}
	if n > 1 {
		order = append(order, 0)
	} else {
		order = append(order, 1)
	}
	for _, page := range order {
		if held(page) {
			f.spooled(page, nil)
		}
	}
	if f.started.CompareAndSwap(false, true) {
		f.plan <- order // buffered
	}
}

// spooled says page is in the spool; pg, when not nil, is it decoded.
func (f *Feed) spooled(page int, pg *udesk.Page) {
	c := f.signal(page)
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-c:
	default:
		if pg != nil && len(f.decoded) < maxDecoded {
			f.decoded[page] = pg
		}
		close(c)
	}
}

// Abandon says the first pass will not be the read's last: the render stops.
func (f *Feed) Abandon() { f.stopOnce.Do(func() { close(f.stop) }) }

// wait returns once page is spooled, with it decoded when the fetch handed
// it on (else nil: read it from the spool), or ErrAbandoned.
func (f *Feed) wait(ctx context.Context, page int) (*udesk.Page, error) {
	select {
	case <-f.signal(page):
		f.mu.Lock()
		defer f.mu.Unlock()
		pg := f.decoded[page]
		delete(f.decoded, page)
		return pg, nil
	case <-f.stop:
		return nil, ErrAbandoned
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
