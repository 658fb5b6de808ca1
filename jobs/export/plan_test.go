package export

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/pipeline/pipelinetest"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// TestPlan: a dry run of a listing says its tickets and requests (three
// pages of 100, the end check and the catalog) from one request; of ids
// from none; it writes nothing, and checks the options as Run does.
func TestPlan(t *testing.T) {
	sim, c := newSim(t, udesktest.Options{Tickets: 250, Seed: 4})
	dir := t.TempDir()
	ctx := context.Background()
	p, err := Plan(ctx, c, Options{Tenant: sim.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if p.Tickets != 250 || p.Requests != 5 || len(p.Notes) != 0 {
		t.Errorf("plan: %d tickets, %d requests, notes %q; want 250, 5, none", p.Tickets, p.Requests, p.Notes)
	}
	if n := len(sim.Log()); n != 1 {
		t.Errorf("the plan made %d requests, want 1", n)
	}
	p, err = Plan(ctx, c, Options{Tenant: sim.URL(), Selector: Selector{IDs: []int64{1, 2, 3}}, Outputs: []string{filepath.Join(dir, "t.csv")}})
	if err != nil || p.Tickets != 3 || p.Requests != 4 || len(sim.Log()) != 1 {
		t.Errorf("plan of 3 ids: %+v, %v after %d requests in all; want 3 tickets, 4 requests, no request made", p, err, len(sim.Log()))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a plan wrote %v", entries)
	}
	_, err = Plan(ctx, c, Options{Tenant: sim.URL(), Outputs: []string{filepath.Join(dir, "t.txt")}})
	if !errors.As(err, new(*pipeline.ConfigError)) || !strings.Contains(err.Error(), `unknown format ".txt"`) {
		t.Errorf("plan to t.txt: %v, want a ConfigError naming the format", err)
	}
}

// TestInactiveFilterWarning: Plan and Run of an inactive filter (the
// simulator's filter 5) warn in a log line and a note of the report, and
// export its tickets all the same; an active filter gets no warning.
func TestInactiveFilterWarning(t *testing.T) {
	sim, c := newSim(t, udesktest.Options{Tickets: 150, Seed: 6})
	ctx := context.Background()
	warned := func(notes []string, log *pipelinetest.Log) bool {
		return slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, "filter 5 ") && strings.Contains(n, "inactive") }) &&
			slices.ContainsFunc(log.Lines(), func(l string) bool { return strings.HasPrefix(l, "warning: filter 5 ") })
	}
	log := &pipelinetest.Log{}
	p, err := Plan(ctx, c, Options{Tenant: sim.URL(), Selector: Selector{Listing: udesk.Listing{FilterID: 5}}, Observer: log})
	if err != nil || !warned(p.Notes, log) {
		t.Errorf("plan of filter 5: %v, notes %q, log %q; want the warning in both", err, p.Notes, log.Lines())
	}
	if p.Requests != 2 {
		t.Errorf("plan of filter 5: %d requests, want 2 (a page and the catalog)", p.Requests)
	}
	log = &pipelinetest.Log{}
	out := filepath.Join(t.TempDir(), "t.jsonl")
	rep, err := Run(ctx, c, Options{Tenant: sim.URL(), Selector: Selector{Listing: udesk.Listing{FilterID: 5}}, Outputs: []string{out}, Observer: log})
	if err != nil || !warned(rep.Notes, log) {
		t.Errorf("run of filter 5: %v, notes %q, log %q; want the warning in both", err, rep.Notes, log.Lines())
	}
	if rep.Written == 0 {
		t.Error("run of filter 5 exported nothing: an inactive filter's tickets are exported all the same")
	}
	log = &pipelinetest.Log{}
	p, err = Plan(ctx, c, Options{Tenant: sim.URL(), Selector: Selector{Listing: udesk.Listing{FilterID: 1}}, Observer: log})
	if err != nil || len(p.Notes) != 0 || strings.Contains(log.String(), "inactive") {
		t.Errorf("plan of the active filter 1: %v, notes %q, log %q; want no warning", err, p.Notes, log.Lines())
	}
}
