package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

// progress shows how far a long run is: a bar on a terminal, otherwise a log
// line every logEvery. It is safe for concurrent use.
type progress struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	unit  string
	desc  string
	start time.Time
	done  atomic.Int64
	total atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

var logEvery = 5 * time.Second

// newProgress starts showing progress of a job of total units (0: unknown yet).
// Quiet runs get a progress that shows nothing.
func newProgress(a *app, quiet bool, desc, unit string, total int64) *progress {
	p := &progress{w: a.stderr, unit: unit, desc: desc, start: time.Now(), stop: make(chan struct{})}
	p.total.Store(total)
	switch {
	case quiet:
		p.w = nil
	case a.interactive:
		max := total
		if max <= 0 {
			max = -1
		}
		p.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	default:
		p.wg.Add(1)
		go p.logLoop()
	}
	return p
}

// Add records n more units done.
func (p *progress) Add(n int) {
	p.done.Add(int64(n))
	if p.bar != nil {
		_ = p.bar.Add(n)
	}
}

// SetTotal sets the number of units the job has, once it is known.
func (p *progress) SetTotal(total int64) {
	p.total.Store(total)
	if p.bar != nil {
		p.bar.ChangeMax64(total)
	}
}

// Finish stops the display.
func (p *progress) Finish() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		if p.bar != nil {
			_ = p.bar.Finish()
		}
	})
}

func (p *progress) logLoop() {
	defer p.wg.Done()
	t := time.NewTicker(logEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			fmt.Fprintln(p.w, p.line())
		}
	}
}

// line is the periodic log line: counts, rate and, when the total is known, ETA.
func (p *progress) line() string {
	done, total := p.done.Load(), p.total.Load()
	elapsed := time.Since(p.start)
	rate := float64(done) / elapsed.Seconds()
	s := fmt.Sprintf("%s: %d", p.desc, done)
	if total > 0 {
		s += fmt.Sprintf("/%d %s (%.0f%%)", total, p.unit, 100*float64(done)/float64(total))
	} else {
		s += " " + p.unit
	}
	s += fmt.Sprintf(", %.1f %s/s", rate, p.unit)
	if total > 0 && rate > 0 && done < total {
		eta := time.Duration(float64(total-done) / rate * float64(time.Second))
		s += fmt.Sprintf(", ETA %s", eta.Round(time.Second))
	}
	return s
}

// observer is the pipeline.Observer of the command line: progress on stderr
// as a bar or log lines, and log lines on stderr.
type observer struct {
	a     *app
	quiet bool
}

func (o observer) Phase(name, unit string, total int64) pipeline.Progress {
	return newProgress(o.a, o.quiet, name, unit, total)
}

func (o observer) Logf(format string, args ...any) {
	fmt.Fprintf(o.a.stderr, format+"\n", args...)
}
