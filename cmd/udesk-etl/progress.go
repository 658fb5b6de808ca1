package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

// progress shows how far one phase of a job is: on a terminal a bar redrawn
// in place, otherwise a timestamped log line every logEvery. Both say the
// count, the total and percentage once known, the failures, this run's rate
// and the ETA. It is safe for concurrent use.
type progress struct {
	w          io.Writer // nil: quiet
	terminal   bool
	desc, unit string
	start      time.Time
	done       atomic.Int64 // all units, also those below
	earlier    atomic.Int64 // done by an earlier run: not in the rate
	failed     atomic.Int64
	total      atomic.Int64
	stop       chan struct{}
	wg         sync.WaitGroup
	once       sync.Once
}

var (
	logEvery  = 5 * time.Second
	drawEvery = 200 * time.Millisecond
)

// newProgress starts showing progress of a phase of total units (0: not
// known yet). Quiet runs get a progress that shows nothing.
func newProgress(a *app, quiet bool, desc, unit string, total int64) *progress {
	p := &progress{w: a.stderr, terminal: a.interactive, desc: desc, unit: unit, start: time.Now(), stop: make(chan struct{})}
	p.total.Store(total)
	if quiet {
		p.w = nil
		return p
	}
	every := logEvery
	if p.terminal {
		every = drawEvery
	}
	p.wg.Add(1)
	go p.loop(every)
	return p
}

func (p *progress) Add(n int)            { p.done.Add(int64(n)) }
func (p *progress) SetTotal(total int64) { p.total.Store(total) }

// AddDone counts units an earlier run did (see pipeline.AddDone).
func (p *progress) AddDone(n int) { p.done.Add(int64(n)); p.earlier.Add(int64(n)) }

// AddFailed counts units done that failed (see pipeline.AddFailed).
func (p *progress) AddFailed(n int) { p.done.Add(int64(n)); p.failed.Add(int64(n)) }

// Finish stops the display and clears the bar.
func (p *progress) Finish() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		if p.w != nil && p.terminal {
			fmt.Fprint(p.w, clearLine)
		}
	})
}

// clearLine moves to the start of the line and erases it.
const clearLine = "\r\x1b[K"

func (p *progress) loop(every time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			if p.terminal {
				fmt.Fprint(p.w, clearLine+p.line(now, true))
			} else {
				fmt.Fprintln(p.w, stamp(now)+p.line(now, false))
			}
		}
	}
}

// line is the progress at now: counts, percentage, failures, rate and ETA,
// with a bar in front when bar is set and the total is known.
func (p *progress) line(now time.Time, bar bool) string {
	done, total, failed := p.done.Load(), p.total.Load(), p.failed.Load()
	var s strings.Builder
	s.WriteString(p.desc + " ")
	if total > 0 {
		pct := min(100, 100*done/total)
		if bar {
			const width = 24
			fill := int(pct) * width / 100
			s.WriteString("[" + strings.Repeat("=", fill) + strings.Repeat(" ", width-fill) + "] ")
		}
		fmt.Fprintf(&s, "%d%% %d/%d %s", pct, done, total, p.unit)
	} else {
		fmt.Fprintf(&s, "%d %s", done, p.unit)
	}
	if failed > 0 {
		fmt.Fprintf(&s, ", %d failed", failed)
	}
	// The rate counts only this run's work: held pages and rows written
	// before a resume came at no cost and would make the ETA a promise.
	elapsed := now.Sub(p.start)
	rate := float64(done-p.earlier.Load()) / elapsed.Seconds()
	if rate > 0 {
		fmt.Fprintf(&s, ", %s %s/s", formatRate(rate), p.unit)
		if total > done {
			fmt.Fprintf(&s, ", ETA %s", approx(time.Duration(float64(total-done)/rate*float64(time.Second))))
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

// approx is a duration as a reader wants it: "under a second", "42s", "3m5s".
func approx(d time.Duration) string {
	if d < time.Second {
		return "under a second"
	}
	return d.Round(time.Second).String()
}

// stamp is the time a log line off a terminal starts with.
func stamp(t time.Time) string { return t.Format(time.RFC3339) + " " }

// observer is the pipeline.Observer of the command line: progress on stderr
// as a bar or log lines, and log lines on stderr (over the bar on a
// terminal, timestamped off one).
type observer struct {
	a     *app
	quiet bool
}

func (o observer) Phase(name, unit string, total int64) pipeline.Progress {
	return newProgress(o.a, o.quiet, name, unit, total)
}

func (o observer) Logf(format string, args ...any) {
	prefix := clearLine
	if !o.a.interactive {
		prefix = stamp(time.Now())
	}
	fmt.Fprintf(o.a.stderr, prefix+format+"\n", args...)
}
