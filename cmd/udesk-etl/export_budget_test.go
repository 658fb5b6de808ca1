package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sources"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// TestExportUsesTheBudget exports at a 10/s budget with 200 ms latency: the
// requests must come at >= 90% of the budget (from the first request's
// arrival to the last reply) and none may be refused with 429.
func TestExportUsesTheBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 7 seconds")
	}
	const tickets = 6000 // 60 pages: enough requests to measure, about 6.5 s
	sim := newSim(t, udesktest.Options{Tickets: tickets, Seed: 2, Rate: 10, Latency: 200 * time.Millisecond})
	dir := t.TempDir()
	report := filepath.Join(dir, "report.json")
	env := simEnv(sim)
	env["UDESK_RATE"] = "10/s"
	start := time.Now()
	code, _, stderr := runCLI(t, env, "export", "--quiet", "--concurrency", "4", "-o", filepath.Join(dir, "t.jsonl"), "--report", report)
	took := time.Since(start)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	log := sim.Log()
	first, last, lastArrival := log[0].Time, log[0].Time, log[0].Time
	throttled := 0
	for _, r := range log {
		if r.Time.Before(first) {
			first = r.Time
		}
		if r.Time.After(lastArrival) {
			lastArrival = r.Time
		}
		if r.Status == 429 {
			throttled++
		}
		if end := r.Time.Add(r.Duration); end.After(last) {
			last = end
		}
	}
	var rep summary
	b, _ := os.ReadFile(report)
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	span := last.Sub(first)
	util := float64(len(log)) / (span.Seconds() * 10)
	arrivals := float64(len(log)-1) / lastArrival.Sub(first).Seconds() / 10
	t.Logf("%d requests in %v (whole run %v): %.1f%% of the budget (arrival rate %.1f%%); %d throttled",
		len(log), span.Round(time.Millisecond), took.Round(time.Millisecond), 100*util, 100*arrivals, throttled)
	if want := tickets/100 + 2; len(log) != want {
		t.Errorf("%d requests, want %d (catalog, pages, end check)", len(log), want)
	}
	if util < 0.90 {
		t.Errorf("the export used %.1f%% of the budget, want >= 90%%", 100*util)
	}
	if throttled != 0 || rep.Throttled != 0 {
		t.Errorf("%d replies 429 (client counted %d), want none", throttled, rep.Throttled)
	}
}

// BenchmarkExportParquet100k exports 100k tickets from the in-process
// simulator (no budget, no latency) to Parquet. B/op includes the
// simulator's own allocations (it serves from the same process).
func BenchmarkExportParquet100k(b *testing.B) {
	const tickets = 100_000
	s, err := udesktest.NewServer(udesktest.Options{Tickets: tickets, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	dir := b.TempDir()
	out := filepath.Join(dir, "t.parquet")
	a := &app{stdin: nil, stdout: discard{}, stderr: discard{}, getenv: func(k string) string { return simEnv(s)[k] }}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if code := run(b.Context(), a, []string{"export", "--quiet", "--concurrency", "4", "-o", out}); code != exitOK {
			b.Fatalf("exit %d", code)
		}
	}
	b.ReportMetric(float64(tickets*b.N)/time.Since(start).Seconds(), "tickets/s")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkExportRenderParquet100k measures the render alone: 100k spooled
// tickets decoded, mapped and written to Parquet (B/op is the export's own).
func BenchmarkExportRenderParquet100k(b *testing.B) {
	const tickets = 100_000
	s, err := udesktest.NewServer(udesktest.Options{Tickets: tickets, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c, err := udesk.NewClient(udesk.Config{BaseURL: s.URL(), Signer: udesk.NewMD5Signer(s.Secret())})
	if err != nil {
		b.Fatal(err)
	}
	sp, _, err := pipeline.OpenSpool(filepath.Join(b.TempDir(), "state"), false)
	if err != nil {
		b.Fatal(err)
	}
	x := &sources.APIExport{Spool: sp, Pages: c, Workers: 4}
	if _, err := x.Fetch(b.Context()); err != nil {
		b.Fatal(err)
	}
	fields, err := c.Fields(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	o := &exportOptions{outputs: stringList{filepath.Join(b.TempDir(), "t.parquet")}, headers: "labels", selectValues: "labels", conn: connOptions{quiet: true}}
	a := &app{stdout: discard{}, stderr: discard{}}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		rs, _, err := renderOutputs(b.Context(), a, o, x, fields)
		if err != nil || rs.Unique != tickets {
			b.Fatalf("%d tickets, %v", rs.Unique, err)
		}
	}
	b.ReportMetric(float64(tickets*b.N)/time.Since(start).Seconds(), "tickets/s")
}
