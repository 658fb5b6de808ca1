package benchreport

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// recentFilter is the simulator's saved filter of recently updated
// tickets, the view a --changed-filter run reads.
const recentFilter = udesktest.RecentFilter

// The sync targets: a run over what changed costs what changed.
const (
	syncChangedShare = 0.01 // of the tickets, changed before the --changed-filter run
	syncMaxShare     = 0.10 // of the full run's bytes written and CPU time
	syncRSSLimitMiB  = 300
)

// syncResult is the Iceberg dataset's cost: a full sync of N tickets, a full
// sync with nothing changed, and a --changed-filter sync after 1% changed.
type syncResult struct {
	Tickets int `json:"tickets"`
	Changed int `json:"changed"` // tickets updated before the changed-filter run

	Full      childRun `json:"full"`
	FullBytes int64    `json:"full_bytes_written"`
	// The full run's tickets data files: a change to an old ticket
	// rewrites the one holding it, about FileBytes.
	Files      int      `json:"full_ticket_data_files"`
	FileBytes  int64    `json:"full_ticket_data_file_mean_bytes"`
	Same       childRun `json:"nothing_changed"`
	SameFiles  int      `json:"nothing_changed_ticket_data_files"` // tickets data files it added
	Delta      childRun `json:"changed_filter"`
	DeltaBytes int64    `json:"changed_filter_bytes_written"`
	// DeltaListed is the tickets the filter listed (the tool's count):
	// the changed ones and those updated recently before them.
	DeltaListed    int64 `json:"changed_filter_listed"`
	DeltaRequests  int   `json:"changed_filter_requests"` // the simulator's count
	TargetRequests int   `json:"target_requests"`

	RequestsPass bool    `json:"requests_pass"`
	BytesShare   float64 `json:"bytes_share"`
	CPUShare     float64 `json:"cpu_share"`
	BytesPass    bool    `json:"bytes_pass"`
	CPUPass      bool    `json:"cpu_pass"`
	SamePass     bool    `json:"nothing_changed_pass"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	RSSPass      bool    `json:"rss_pass"`
	Error        string  `json:"error,omitempty"`
}

// syncBench measures the three syncs at the largest size. A failure is
// reported in the section, not as the bench's: the other figures stand.
func (b *bencher) syncBench(ctx context.Context) error {
	n := slices.Max(b.o.sizes)
	r := &syncResult{Tickets: n}
	b.rep.Sync = r
	if err := b.syncRuns(ctx, r); err != nil {
		if ctx.Err() != nil {
			return err
		}
		r.Error = err.Error()
		b.logf("sync: not measured: %v", err)
	}
	return nil
}

func (b *bencher) syncRuns(ctx context.Context, r *syncResult) error {
	sim, err := newBenchSim(udesktest.Options{Tickets: r.Tickets})
	if err != nil {
		return err
	}
	defer sim.Close()
	d, err := b.dir("sync")
	if err != nil {
		return err
	}
	defer func() {
		if !b.o.keep {
			os.RemoveAll(d)
		}
	}()
	ds := filepath.Join(d, "dataset")
	run := func(name string, extra ...string) (childRun, int64, error) {
		before := dirFiles(ds)
		report := filepath.Join(d, name+"-report.json")
		args := append([]string{"sync", "--quiet", "--rate", "unlimited", "--dataset", ds, "--report", report}, extra...)
		c, err := b.child(ctx, sim, report, args...)
		return c, bytesWritten(before, dirFiles(ds)), err
	}

	b.logf("sync: a full run of %d tickets", r.Tickets)
	if r.Full, r.FullBytes, err = run("full"); err != nil {
		return err
	}
	b.logf("sync: a full run with nothing changed")
	ticketData := filepath.Join(ds, "tickets", "data")
	full := dirFiles(ticketData)
	files := len(full)
	r.Files = files
	for _, f := range full {
		r.FileBytes += f.size
	}
	if files > 0 {
		r.FileBytes /= int64(files)
	}
	time.Sleep(time.Second) // run ids are seconds
	if r.Same, _, err = run("same"); err != nil {
		return err
	}
	r.SameFiles = len(dirFiles(ticketData)) - files
	r.SamePass = r.SameFiles == 0

	r.Changed = changeRecent(sim, r.Tickets, int(syncChangedShare*float64(r.Tickets)))
	b.logf("sync: a --changed-filter run after %d tickets changed", r.Changed)
	base := simRequests(sim)
	time.Sleep(time.Second)
	if r.Delta, r.DeltaBytes, err = run("changed", "--changed-filter", fmt.Sprint(recentFilter)); err != nil {
		return err
	}
	r.DeltaRequests = simRequests(sim) - base
	r.DeltaListed = r.Delta.Report.Read
	r.TargetRequests = ceilDiv(int(r.DeltaListed), 100) + 2
	r.RequestsPass = r.DeltaRequests <= r.TargetRequests && r.DeltaListed >= int64(r.Changed)
	if r.FullBytes > 0 {
		r.BytesShare = float64(r.DeltaBytes) / float64(r.FullBytes)
	}
	if r.Full.CPU > 0 {
		r.CPUShare = r.Delta.CPU / r.Full.CPU
	}
	r.BytesPass = r.FullBytes > 0 && r.BytesShare <= syncMaxShare
	r.CPUPass = r.Full.CPU > 0 && r.CPUShare <= syncMaxShare
	r.PeakRSSMiB = max(r.Full.MaxRSSMiB, r.Same.MaxRSSMiB, r.Delta.MaxRSSMiB)
	r.RSSPass = r.PeakRSSMiB < syncRSSLimitMiB
	return nil
}

// syncRecentShare is the newest share of the tickets (by creation) the
// changes fall among: agents work on recent tickets.
const syncRecentShare = 0.05

// changeRecent updates k of the n generated tickets as agents do, all among
// the newest twentieth (ids grow with creation). It returns how many it
// changed.
func changeRecent(sim *udesktest.Server, n, k int) int {
	rng := rand.New(rand.NewPCG(7, 11))
	recent := max(int(syncRecentShare*float64(n)), 1)
	picked := map[int64]bool{}
	for len(picked) < min(k, recent) {
		picked[int64(n-rng.IntN(recent))] = true
	}
	changed := 0
	for id := range picked {
		if sim.UpdateTicket(id, func(t *udesktest.Ticket) { t.Subject = "changed: " + t.Subject }) {
			changed++
		}
	}
	return changed
}

func simRequests(sim *udesktest.Server) int {
	n := 0
	for _, c := range sim.Requests() {
		n += c
	}
	return n
}

// fileStamp is what tells a rewritten file from one left alone.
type fileStamp struct {
	size int64
	mod  time.Time
}

// dirFiles stamps every file under dir (none when it does not exist).
func dirFiles(dir string) map[string]fileStamp {
	m := map[string]fileStamp{}
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		if fi, err := e.Info(); err == nil {
			m[p] = fileStamp{fi.Size(), fi.ModTime()}
		}
		return nil
	})
	return m
}

// bytesWritten is the size of the files new or rewritten between two stamps.
func bytesWritten(before, after map[string]fileStamp) int64 {
	var n int64
	for p, s := range after {
		if b, ok := before[p]; !ok || b != s {
			n += s.size
		}
	}
	return n
}

// markdown renders the sync section through p, a line printer.
func (r *syncResult) markdown(p func(format string, args ...any)) {
	p("## 5. Sync: the Iceberg dataset")
	p("")
	if r.Error != "" {
		p("Not measured: %s", strings.Join(strings.Fields(r.Error), " "))
		p("")
		return
	}
	p("A full `sync` of %s tickets into a local folder, a full run with nothing changed, then %s tickets (%.0f%%) changed, all among the newest %.0f%% by creation "+
		"(agents work on recent tickets), and a `--changed-filter %d` run reading the simulator's saved view of recently updated tickets. "+
		"Bytes written are the sizes of the dataset's files new or rewritten by the run; requests are the simulator's count; "+
		"the filter lists the changed tickets and those updated in the week before them.", thousands(r.Tickets), thousands(r.Changed),
		100*syncChangedShare, 100*syncRecentShare, recentFilter)
	p("")
	p("The workload decides the bytes: the `tickets` table is copy-on-write (no delete files), so a run rewrites every data file that holds "+
		"an old row of a changed ticket. The full run wrote %d tickets data files of %.1f MB on average (about %s tickets each, by id): "+
		"a change to an old ticket costs the rewrite of its file, %.1f MB, so changes spread over all tickets would rewrite nearly the whole table "+
		"and would not meet the 10%% target.", r.Files, float64(r.FileBytes)/1e6, thousands(r.Tickets/max(r.Files, 1)), float64(r.FileBytes)/1e6)
	p("")
	p("| run | wall | CPU (user+sys) | peak RSS | bytes written | requests |")
	p("|---|---:|---:|---:|---:|---:|")
	p("| full | %.1f s | %.1f s | %s | %.1f MB | %d |", r.Full.Wall, r.Full.CPU, mib(r.Full.MaxRSSMiB), float64(r.FullBytes)/1e6, r.Full.Report.Requests)
	p("| full, nothing changed | %.1f s | %.1f s | %s | | %d |", r.Same.Wall, r.Same.CPU, mib(r.Same.MaxRSSMiB), r.Same.Report.Requests)
	p("| --changed-filter, %s listed | %.1f s | %.1f s | %s | %.2f MB | %d |", thousands(int(r.DeltaListed)), r.Delta.Wall, r.Delta.CPU,
		mib(r.Delta.MaxRSSMiB), float64(r.DeltaBytes)/1e6, r.DeltaRequests)
	p("")
	p("| target | measured | result |")
	p("|---|---:|---|")
	p("| --changed-filter requests <= ceil(listed/100) + 2 = %d | %d | %s |", r.TargetRequests, r.DeltaRequests,
		passText(r.RequestsPass, fmt.Sprintf("%d over", r.DeltaRequests-r.TargetRequests)))
	p("| --changed-filter bytes written <= %.0f%% of the full run's | %.2f%% | %s |", 100*syncMaxShare, 100*r.BytesShare,
		passText(r.BytesPass, fmt.Sprintf("%.1f points over", 100*(r.BytesShare-syncMaxShare))))
	p("| --changed-filter CPU time <= %.0f%% of the full run's | %.2f%% | %s |", 100*syncMaxShare, 100*r.CPUShare,
		passText(r.CPUPass, fmt.Sprintf("%.1f points over", 100*(r.CPUShare-syncMaxShare))))
	p("| nothing changed: no tickets data file written | %d | %s |", r.SameFiles, passText(r.SamePass, fmt.Sprintf("%d files", r.SameFiles)))
	p("| peak RSS of the three runs < %d MiB | %s | %s |", syncRSSLimitMiB, mib(r.PeakRSSMiB),
		passText(r.RSSPass, fmt.Sprintf("%.0f MiB over", r.PeakRSSMiB-syncRSSLimitMiB)))
	p("")
}
