package progress

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The log line off a terminal: count, total, percentage, failures, rate
// and ETA, from a fixed moment.
func TestProgressLine(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	p := &progress{desc: "import", unit: "rows", start: t0}
	if got, want := p.line(t0.Add(time.Second)), "import 0 rows"; got != want {
		t.Errorf("nothing done, total unknown: %q, want %q", got, want)
	}
	p.SetTotal(1000)
	p.Add(247)
	p.AddFailed(3)
	if got, want := p.line(t0.Add(10*time.Second)), "import 25% 250/1000 rows, 3 failed, 25 rows/s, ETA 30s"; got != want {
		t.Errorf("log line: %q, want %q", got, want)
	}

	// A resumed run: the 500 rows an earlier run wrote count toward the
	// percentage but not toward the rate, so the ETA is this run's pace.
	r := &progress{desc: "import", unit: "rows", start: t0}
	r.SetTotal(1000)
	r.AddDone(500)
	r.Add(100)
	if got, want := r.line(t0.Add(10*time.Second)), "import 60% 600/1000 rows, 10 rows/s, ETA 40s"; got != want {
		t.Errorf("resumed: %q, want %q", got, want)
	}
	// More written than the listing's total said: no percentage past 100.
	w := &progress{desc: "write", unit: "tickets", start: t0}
	w.SetTotal(500)
	w.Add(510)
	if got := w.line(t0.Add(2 * time.Second)); got != "write 100% 510/500 tickets, 255 tickets/s" {
		t.Errorf("past the total: %q", got)
	}
}

// On a terminal: a spinner with the count while the total is unknown, then
// the bar of this run's share with its count, total, percentage, rate and
// ETA; the rows an earlier run wrote and the failures in its description;
// cleared at the end.
func TestProgressBarOnATerminal(t *testing.T) {
	defer func(d time.Duration) { drawEvery = d }(drawEvery)
	drawEvery = 0 // draw every change
	var b bytes.Buffer
	p := newProgress(Observer{W: &b, Terminal: true}, "import", "rows", 0)
	p.AddDone(500)
	p.Add(60)
	if !regexp.MustCompile(`import \(500 done earlier\) \(60, \d+ rows/s\) \[\w+\]`).MatchString(b.String()) {
		t.Errorf("no spinner with the count before the total is known:\n%q", b.String())
	}
	p.SetTotal(1000)
	p.Add(37)
	p.AddFailed(3)
	bar := regexp.MustCompile(`import \(500 done earlier, 3 failed\)  20% \|█+ *\| \(100/500, \d+ rows/s\) \[\w+:\w+\]`)
	if !bar.MatchString(b.String()) {
		t.Errorf("no bar with this run's count, total, percentage, rate and ETA, and the failures:\n%q", b.String())
	}
	// The bar counts this run's 100 rows of its 500, never the 500 done
	// earlier: those would make its rate and ETA a promise.
	if st := p.bar.State(); st.CurrentNum != 100 || st.Max != 500 {
		t.Errorf("the bar counts %d of %d, want 100 of 500", st.CurrentNum, st.Max)
	}
	p.Finish()
	if !strings.HasSuffix(b.String(), "\x1b[2K\r") {
		t.Errorf("the bar is not cleared at the end:\n%q", b.String())
	}
	n := b.Len()
	p.Add(1)
	p.SetTotal(2000)
	if b.Len() != n {
		t.Errorf("drawn after Finish: %q", b.String()[n:])
	}
}

// Off a terminal, log lines start with the time.
func TestLogLinesOffATerminalAreTimestamped(t *testing.T) {
	var b bytes.Buffer
	Observer{W: &b}.Logf("state: %s", "x")
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d) state: x\n$`).MatchString(b.String()) {
		t.Errorf("log line %q", b.String())
	}
}

// Workers count at once while the total arrives: every unit is counted
// (run with -race to check the locking).
func TestProgressIsSafeForConcurrentUse(t *testing.T) {
	for _, terminal := range []bool{true, false} {
		var b bytes.Buffer
		p := newProgress(Observer{W: &lockedBuffer{b: &b}, Terminal: terminal}, "import", "rows", 0)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for range 100 {
					switch w {
					case 0:
						p.AddDone(1)
					case 1:
						p.AddFailed(1)
					default:
						p.Add(1)
					}
				}
			})
		}
		p.SetTotal(400)
		wg.Wait()
		p.Finish()
		if p.done != 400 || p.earlier != 100 || p.failed != 100 {
			t.Errorf("terminal %v: done %d, earlier %d, failed %d; want 400, 100, 100", terminal, p.done, p.earlier, p.failed)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
