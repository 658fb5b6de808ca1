package export

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/listing"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// TestExportKeepsToTheBudget exports at a 10/s budget with 200 ms latency:
// exactly the requests the work needs, none refused with 429, and none sent
// faster than the budget. How much of the budget the export uses is a speed
// figure, measured by BenchmarkExportBudget and `make bench`, not here.
func TestExportKeepsToTheBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 3 seconds")
	}
	const tickets = 2000
	util, requests, throttled := exportAtBudget(t, tickets)
	t.Logf("%d requests: %.1f%% of the budget; %d throttled", requests, 100*util, throttled)
	if want := tickets/100 + 2; requests != want {
		t.Errorf("%d requests, want %d (catalog, pages, end check)", requests, want)
	}
	if throttled != 0 {
		t.Errorf("%d replies 429, want none", throttled)
	}
	if util > 1.05 {
		t.Errorf("requests came at %.1f%% of the budget: faster than the budget allows", 100*util)
	}
}

// BenchmarkExportBudget reports the share of a 10/s budget an export of 3,000
// tickets uses with 200 ms latency and 4 requests in flight (target >= 0.90).
func BenchmarkExportBudget(b *testing.B) {
	for b.Loop() {
		util, _, throttled := exportAtBudget(b, 3000)
		b.ReportMetric(util, "budget-used")
		b.ReportMetric(float64(throttled), "429s")
	}
}

// exportAtBudget runs an export against a simulator whose budget, like the
// tool's, is 10/s, and returns the requests' arrival rate as a share of the
// budget, the number of requests and the number refused with 429.
func exportAtBudget(tb testing.TB, tickets int) (util float64, requests, throttled int) {
	sim, err := udesktest.NewServer(udesktest.Options{Tickets: tickets, Seed: 2, Rate: 10, Latency: 200 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	defer sim.Close()
	budget, _ := udesk.ParseRate("10/s")
	c := newClient(tb, sim, udesk.Config{Rate: budget})
	if _, err := Run(context.Background(), c, Options{Tenant: sim.URL(), Concurrency: 4, Outputs: []string{filepath.Join(tb.TempDir(), "t.jsonl")}}); err != nil {
		tb.Fatalf("export: %v", err)
	}
	log := sim.Log()
	first, last := log[0].Time, log[0].Time
	for _, r := range log {
		if r.Time.Before(first) {
			first = r.Time
		}
		if r.Time.After(last) {
			last = r.Time
		}
		if r.Status == 429 {
			throttled++
		}
	}
	if n := int(c.Stats().Throttled); n > throttled {
		throttled = n
	}
	return float64(len(log)-1) / last.Sub(first).Seconds() / 10, len(log), throttled
}

// BenchmarkExportParquet100k exports 100k tickets from the in-process
// simulator (no budget, no latency) to Parquet. B/op includes the
// simulator's own allocations (it serves from the same process).
func BenchmarkExportParquet100k(b *testing.B) { benchmarkExport100k(b, "t.parquet") }

// BenchmarkExportCSV100k is BenchmarkExportParquet100k to CSV (with its
// original rows beside it, as by default).
func BenchmarkExportCSV100k(b *testing.B) { benchmarkExport100k(b, "t.csv") }

func benchmarkExport100k(b *testing.B, out string) {
	const tickets = 100_000
	s, c := newSim(b, udesktest.Options{Tickets: tickets, Seed: 1})
	opts := Options{Tenant: s.URL(), Concurrency: 4, Outputs: []string{filepath.Join(b.TempDir(), out)}}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := Run(b.Context(), c, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tickets*b.N)/time.Since(start).Seconds(), "tickets/s")
}

// BenchmarkExportRenderParquet100k measures the render alone: 100k spooled
// tickets decoded, mapped and written to Parquet (B/op is the export's own).
func BenchmarkExportRenderParquet100k(b *testing.B) {
	const tickets = 100_000
	s, c := newSim(b, udesktest.Options{Tickets: tickets, Seed: 1})
	sp, _, err := pipeline.OpenSpool(filepath.Join(b.TempDir(), "state"), false)
	if err != nil {
		b.Fatal(err)
	}
	x := &listing.Reader{Spool: sp, Pages: c, Workers: 4}
	if _, err := x.Fetch(b.Context()); err != nil {
		b.Fatal(err)
	}
	fields, err := c.Fields(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	o := &Options{Outputs: []string{filepath.Join(b.TempDir(), "t.parquet")}, Observer: pipeline.Quiet{}}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		rs, _, err := writeOutputs(b.Context(), o, x, fields, 0)
		if err != nil || rs.Unique != tickets {
			b.Fatalf("%d tickets, %v", rs.Unique, err)
		}
	}
	b.ReportMetric(float64(tickets*b.N)/time.Since(start).Seconds(), "tickets/s")
}
