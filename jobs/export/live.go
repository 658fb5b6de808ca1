package export

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// A liveRender writes a listing's first pass into the outputs while the
// pass is still being read, so that decoding, mapping and writing overlap
// the requests instead of waiting for the last reply: on two CPUs the fetch
// alone leaves one of them mostly idle.
//
// It renders exactly what Render would render from the same spool: the
// pass's pages in the order they are requested (Render's order), each page
// once it is spooled, deduplicated the same way. That holds only while the
// first pass is the export's last: when the listing changed and is read
// again, the fetch abandons the live render, its output files are removed
// unwritten, and Render writes them afresh from the spool after the fetch.
// The outputs are committed only after the fetch and the accounting, so a
// crash at any point leaves no partial output: a rerun resumes from the
// spool, rendering live again the pages it holds and those it fetches.
type liveRender struct {
	feed   *pageFeed
	fields chan []udesk.Field // the catalog, once read
	done   chan struct{}      // closed when the render goroutine ended

	mu      sync.Mutex // guards prog and pending
	prog    pipeline.Progress
	pending int // tickets written before prog was set

	// Set by the render goroutine before done is closed.
	out *outputSet
	d   *deduper
	err error
}

// errAbandoned ends a live render whose pass is not the export's last.
var errAbandoned = errors.New("export: the listing is read again; rendering from the spool instead")

// startLive starts rendering x's first pass into o's outputs as x fetches it.
func startLive(ctx context.Context, o *Options, x *fetcher) *liveRender {
	lr := &liveRender{feed: newPageFeed(), fields: make(chan []udesk.Field, 1), done: make(chan struct{})}
	x.Live = lr.feed
	go func() {
		defer close(lr.done)
		lr.err = lr.run(ctx, o, x)
	}()
	return lr
}

func (lr *liveRender) run(ctx context.Context, o *Options, x *fetcher) error {
	var fields []udesk.Field
	var order []int
	for got := 0; got < 2; got++ {
		select {
		case fields = <-lr.fields:
		case order = <-lr.feed.plan:
		case <-lr.feed.stop:
			return errAbandoned
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	out, err := openOutputs(o, fields)
	if err != nil {
		return err
	}
	lr.out = out
	lr.d = x.newDeduper(0, func(ts []udesk.Ticket) error {
		if err := out.write(ts); err != nil {
			return err
		}
		lr.mu.Lock()
		if lr.prog != nil {
			lr.prog.Add(len(ts))
		} else {
			lr.pending += len(ts)
		}
		lr.mu.Unlock()
		return nil
	})
	pages := make([]pipeline.SpoolPage, len(order))
	for i, page := range order {
		pages[i] = pipeline.SpoolPage{Page: page}
	}
	return decodeOrdered(ctx, x.Spool, pages, func(ctx context.Context, p pipeline.SpoolPage) (*udesk.Page, error) {
		return lr.feed.wait(ctx, p.Page)
	}, lr.d.page)
}

// catalog hands the render the field catalog the rows are mapped with.
func (lr *liveRender) catalog(fields []udesk.Field) { lr.fields <- fields }

// finish waits for the render and, when it rendered the export's last pass
// (res.Passes is 1), adds the tickets account found and commits the outputs;
// rendered is false when Render must write the outputs instead. The tickets
// written are counted on a progress phase newProg makes.
func (lr *liveRender) finish(res *fetchResult, newProg func() pipeline.Progress) (rs renderStats, st outputStats, rendered bool, err error) {
	if res.Passes != 1 || !lr.feed.started.Load() {
		lr.stop()
		return renderStats{}, st, false, nil
	}
	prog := newProg()
	defer prog.Finish()
	lr.mu.Lock()
	lr.prog = prog
	prog.Add(lr.pending)
	lr.mu.Unlock()
	<-lr.done
	if lr.d != nil {
		rs = lr.d.st
	}
	if lr.err == nil {
		lr.err = lr.d.finish()
		rs = lr.d.st
	}
	if lr.err != nil {
		lr.abort()
		return rs, st, true, lr.err
	}
	st, err = lr.out.commit()
	return rs, st, true, err
}

// stop ends the render without committing: the fetch failed, or the first
// pass is not the export's last.
func (lr *liveRender) stop() {
	lr.feed.abandon()
	<-lr.done
	lr.abort()
}

func (lr *liveRender) abort() {
	if lr.out != nil {
		lr.out.abort()
		lr.out = nil
	}
}

// pageFeed tells a live render which pages of the first pass to render, in
// which order, and when each is spooled, with the page as the fetch decoded
// it while the render keeps up (maxDecoded pages wait at most; past that the
// render reads and decodes them from the spool).
type pageFeed struct {
	plan     chan []int    // the pass's pages in render order, sent once
	started  atomic.Bool   // plan was sent
	stop     chan struct{} // closed by abandon
	stopOnce sync.Once

	mu      sync.Mutex
	ready   map[int]chan struct{} // closed once the page is spooled
	decoded map[int]*udesk.Page   // pages spooled and not yet rendered
}

// maxDecoded bounds the decoded pages waiting for the render: a few MB.
const maxDecoded = 32

func newPageFeed() *pageFeed {
	return &pageFeed{plan: make(chan []int, 1), stop: make(chan struct{}), ready: map[int]chan struct{}{}, decoded: map[int]*udesk.Page{}}
}

func (f *pageFeed) signal(page int) chan struct{} {
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
func (f *pageFeed) start(n int, held func(page int) bool) {
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
func (f *pageFeed) spooled(page int, pg *udesk.Page) {
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

// abandon says the first pass will not be the export's: the render stops.
func (f *pageFeed) abandon() { f.stopOnce.Do(func() { close(f.stop) }) }

// wait returns once page is spooled, with it decoded when the fetch handed
// it on (else nil: read it from the spool), or errAbandoned.
func (f *pageFeed) wait(ctx context.Context, page int) (*udesk.Page, error) {
	select {
	case <-f.signal(page):
		f.mu.Lock()
		defer f.mu.Unlock()
		pg := f.decoded[page]
		delete(f.decoded, page)
		return pg, nil
	case <-f.stop:
		return nil, errAbandoned
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
