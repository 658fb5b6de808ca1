package export

import (
	"context"
	"sync"

	"github.com/udesk-etl/udesk-etl/jobs/listing"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// A liveRender writes a listing's first pass into the outputs while the
// pass is still being read, so that decoding, mapping and writing overlap
// the requests instead of waiting for the last reply: on two CPUs the fetch
// alone leaves one of them mostly idle.
//
// It renders exactly what Render would render from the same spool
// (listing.Reader.RenderFirstPass). That holds only while the first pass
// is the export's last: when the listing changed and is read again, the
// fetch abandons the live render, its output files are removed unwritten,
// and Render writes them afresh from the spool after the fetch. The outputs
// are committed only after the fetch and the completeness check, so a
// crash at any point leaves no partial output: a rerun resumes from the
// spool, rendering live again the pages it holds and those it fetches.
type liveRender struct {
	feed   *listing.Feed
	fields chan []udesk.Field // the catalog, once read
	done   chan struct{}      // closed when the render goroutine ended

	mu      sync.Mutex // guards prog and pending
	prog    pipeline.Progress
	pending int // tickets written before prog was set

	// Set by the render goroutine before done is closed.
	out *outputSet
	r   *listing.Rendering
	err error
}

// startLive starts rendering x's first pass into o's outputs as x fetches it.
func startLive(ctx context.Context, o *Options, x *listing.Reader) *liveRender {
	lr := &liveRender{feed: listing.NewFeed(), fields: make(chan []udesk.Field, 1), done: make(chan struct{})}
	x.Live = lr.feed
	go func() {
		defer close(lr.done)
		lr.err = lr.run(ctx, o, x)
	}()
	return lr
}

func (lr *liveRender) run(ctx context.Context, o *Options, x *listing.Reader) error {
	var fields []udesk.Field
	select {
	case fields = <-lr.fields:
	case <-lr.feed.Abandoned():
		return listing.ErrAbandoned
	case <-ctx.Done():
		return ctx.Err()
	}
	out, err := openOutputs(o, fields)
	if err != nil {
		return err
	}
	lr.out = out
	lr.r, err = x.RenderFirstPass(ctx, func(ts []udesk.Ticket) error {
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
	return err
}

// catalog hands the render the field catalog the rows are mapped with.
func (lr *liveRender) catalog(fields []udesk.Field) { lr.fields <- fields }

// finish waits for the render and, when it rendered the export's last pass
// (res.Passes is 1), adds the tickets the completeness check found and
// commits the outputs; rendered is false when Render must write the outputs
// instead. The tickets written are counted on a progress phase newProg makes.
func (lr *liveRender) finish(res *listing.Result, newProg func() pipeline.Progress) (rs listing.RenderStats, st outputStats, rendered bool, err error) {
	if res.Passes != 1 || !lr.feed.Started() {
		lr.stop()
		return listing.RenderStats{}, st, false, nil
	}
	prog := newProg()
	defer prog.Finish()
	lr.mu.Lock()
	lr.prog = prog
	prog.Add(lr.pending)
	lr.mu.Unlock()
	<-lr.done
	if lr.r != nil {
		rs = lr.r.Stats()
	}
	if lr.err == nil {
		rs, lr.err = lr.r.Finish()
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
	lr.feed.Abandon()
	<-lr.done
	lr.abort()
}

func (lr *liveRender) abort() {
	if lr.out != nil {
		lr.out.abort()
		lr.out = nil
	}
}
