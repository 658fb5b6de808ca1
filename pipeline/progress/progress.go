// Package progress shows a job's progress to a person: on a terminal a bar
// drawn by progressbar, elsewhere a timestamped log line every few seconds.
// Both say the count, the total and percentage once known, the failures,
// and a rate and ETA of this run's work only. Its Observer is the
// pipeline.Observer of the command line.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

// progress shows how far one phase of a job is. On a terminal it is
// progressbar's bar: count, total, percentage, rate and ETA of this run's
// work, with the failures and the units an earlier run did in its
// description. Off a terminal it is a timestamped log line every logEvery
// saying the same. It is safe for concurrent use.
type progress struct {
	desc, unit string
	start      time.Time

	mu                           sync.Mutex
	done, earlier, failed, total int64 // done counts all units, also earlier and failed ones
	finished                     bool

	// On a terminal, spin counts while the total is not known. bar counts
	// from the start, behind gate until the total is known, so that its
	// rate and ETA cover the whole phase. Neither counts the units an
	// earlier run did: its max is total - earlier.
	spin, bar *progressbar.ProgressBar
	gate      *gateWriter

	// Off a terminal: the log lines.
	w    io.Writer
	stop chan struct{}
	wg   sync.WaitGroup
}

var (
	logEvery  = 5 * time.Second
	drawEvery = 100 * time.Millisecond // at most one redraw of a bar per drawEvery
)

// newProgress starts showing progress of a phase of total units (0: not
// known yet) on o.W. Quiet observers get a progress that shows nothing.
func newProgress(o Observer, desc, unit string, total int64) *progress {
	p := &progress{desc: desc, unit: unit, start: time.Now(), total: max(total, 0)}
	switch {
	case o.Quiet:
	case o.Terminal:
		p.gate = &gateWriter{w: o.W}
		p.bar = p.newBar(p.gate, 1<<62) // max until the total is known
		if total > 0 {
			p.showBar()
		} else {
			p.spin = p.newBar(o.W, -1)
		}
	default:
		p.w, p.stop = o.W, make(chan struct{})
		p.wg.Add(1)
		go p.logLoop()
	}
	return p
}

// newBar is a bar of max units (-1: a spinner that counts) drawn on w.
func (p *progress) newBar(w io.Writer, max int64) *progressbar.ProgressBar {
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(p.describe()),
		progressbar.OptionSetWidth(20),
		progressbar.OptionShowCount(),
		progressbar.OptionShowTotalBytes(max > 0),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(p.unit),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionThrottle(drawEvery),
		progressbar.OptionUseANSICodes(true),
		progressbar.OptionClearOnFinish(),
		// Drawn at once: the clock of the rate starts now, and a spinner's
		// own redraws never race with its first.
		progressbar.OptionSetRenderBlankState(true),
	)
}

func (p *progress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += int64(n)
	p.addToBars(n)
}

func (p *progress) SetTotal(total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = total
	if p.bar != nil && !p.finished && total > 0 {
		p.showBar()
	}
}

// AddDone counts units an earlier run did (see pipeline.AddDone): shown,
// but out of the bar's count, so out of its rate and ETA.
func (p *progress) AddDone(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += int64(n)
	p.earlier += int64(n)
	p.redescribe()
	if p.gate != nil && p.gate.open.Load() && !p.finished {
		p.fitBar()
	}
}

// AddFailed counts units done that failed (see pipeline.AddFailed).
func (p *progress) AddFailed(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += int64(n)
	p.failed += int64(n)
	p.redescribe()
	p.addToBars(n)
}

// Finish stops the display and clears the bar.
func (p *progress) Finish() {
	p.mu.Lock()
	if p.finished {
		p.mu.Unlock()
		return
	}
	for _, b := range p.liveBars() {
		_ = b.Finish()
	}
	p.finished = true
	p.mu.Unlock()
	if p.stop != nil {
		close(p.stop)
		p.wg.Wait()
	}
}

// showBar replaces the spinner with the bar once the total is known.
func (p *progress) showBar() {
	if p.spin != nil {
		_ = p.spin.Finish()
		p.spin = nil
	}
	p.gate.open.Store(true)
	p.fitBar()
}

// fitBar sets the bar's max to the units this run has to do. A bar that
// reached its max has cleared itself and stays so.
func (p *progress) fitBar() {
	if p.bar.IsFinished() {
		return
	}
	if left := p.total - p.earlier; left > 0 {
		p.bar.ChangeMax64(left)
	} else {
		_ = p.bar.Finish()
	}
}

func (p *progress) addToBars(n int) {
	for _, b := range p.liveBars() {
		_ = b.Add(n)
	}
}

// liveBars are the bars still drawing: a bar that reached its max has
// cleared itself.
func (p *progress) liveBars() []*progressbar.ProgressBar {
	var live []*progressbar.ProgressBar
	for _, b := range []*progressbar.ProgressBar{p.spin, p.bar} {
		if b != nil && !p.finished && !b.IsFinished() {
			live = append(live, b)
		}
	}
	return live
}

// describe is the bar's description: the phase, and what the bar does not
// count or show by itself.
func (p *progress) describe() string {
	var more []string
	if p.earlier > 0 {
		more = append(more, fmt.Sprintf("%d done earlier", p.earlier))
	}
	if p.failed > 0 {
		more = append(more, fmt.Sprintf("%d failed", p.failed))
	}
	if len(more) == 0 {
		return p.desc
	}
	return p.desc + " (" + strings.Join(more, ", ") + ")"
}

func (p *progress) redescribe() {
	for _, b := range p.liveBars() {
		b.Describe(p.describe())
	}
}

// gateWriter drops what is written until it is opened.
type gateWriter struct {
	open atomic.Bool
	w    io.Writer
}

func (g *gateWriter) Write(b []byte) (int, error) {
	if !g.open.Load() {
		return len(b), nil
	}
	return g.w.Write(b)
}

func (p *progress) logLoop() {
	defer p.wg.Done()
	t := time.NewTicker(logEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			fmt.Fprintln(p.w, stamp(now)+p.line(now))
		}
	}
}

// line is the log line of the progress at now: counts, percentage,
// failures, rate and ETA.
func (p *progress) line(now time.Time) string {
	p.mu.Lock()
	done, earlier, total, failed := p.done, p.earlier, p.total, p.failed
	p.mu.Unlock()
	var s strings.Builder
	if total > 0 {
		fmt.Fprintf(&s, "%s %d%% %d/%d %s", p.desc, min(100, 100*done/total), done, total, p.unit)
	} else {
		fmt.Fprintf(&s, "%s %d %s", p.desc, done, p.unit)
	}
	if failed > 0 {
		fmt.Fprintf(&s, ", %d failed", failed)
	}
	// The rate counts only this run's work: held pages and rows written
	// before a resume came at no cost and would make the ETA a promise.
	rate := float64(done-earlier) / now.Sub(p.start).Seconds()
	if rate > 0 {
		fmt.Fprintf(&s, ", %s %s/s", formatRate(rate), p.unit)
		if total > done {
			fmt.Fprintf(&s, ", ETA %s", pipeline.Approx(time.Duration(float64(total-done)/rate*float64(time.Second))))
		}
	}
	return s.String()
}

func formatRate(r float64) string {
	if r >= 10 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}

// stamp is the time a log line off a terminal starts with.
func stamp(t time.Time) string { return t.Format(time.RFC3339) + " " }

// Observer is a pipeline.Observer for a person: progress and log lines on
// W, as bars when Terminal (log lines then erase the bar, which redraws
// below them), otherwise as log lines that start with the time. Quiet shows
// only the warnings (log lines that start with "warning"): no progress, no
// state folder, no plan. W must take whole writes from several goroutines.
type Observer struct {
	W        io.Writer
	Terminal bool
	Quiet    bool
}

func (o Observer) Phase(name, unit string, total int64) pipeline.Progress {
	return newProgress(o, name, unit, total)
}

func (o Observer) Logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if o.Quiet && !strings.HasPrefix(line, "warning") {
		return
	}
	prefix := "\r\x1b[K"
	if !o.Terminal {
		prefix = stamp(time.Now())
	}
	io.WriteString(o.W, prefix+line+"\n")
}
