package export

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/internal/exporttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline/pipelinetest"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// TestRunSelectorsAndFormats exports each kind of selector to every format
// at once and compares every file with the simulator's tickets as the
// catalog renders them; it counts the requests each selector needs.
func TestRunSelectorsAndFormats(t *testing.T) {
	sim, _ := newSim(t, udesktest.Options{Tickets: 430, Seed: 7})
	all := sim.Tickets()
	email := all[10].UserEmail
	pick := func(keep func(tk udesktest.Ticket) bool) []udesktest.Ticket {
		var out []udesktest.Ticket
		for _, tk := range all {
			if keep(tk) {
				out = append(out, tk)
			}
		}
		return out
	}
	byID := map[int64]udesktest.Ticket{}
	for _, tk := range all {
		byID[tk.ID] = tk
	}
	for _, tc := range []struct {
		name  string
		sel   Selector
		want  []udesktest.Ticket
		notes string
	}{
		{"all", Selector{}, all, ""},
		{"filter", Selector{Listing: udesk.Listing{FilterID: 1}}, pick(func(tk udesktest.Ticket) bool { return tk.Status == "open" }), ""},
		{"filter agent", Selector{Listing: udesk.Listing{FilterID: 3, AgentID: 3}}, pick(func(tk udesktest.Ticket) bool {
			return tk.AssigneeID == 3 && (tk.Status == "open" || tk.Status == "solving")
		}), ""},
		{"customer", Selector{Listing: udesk.Listing{CustomerEmail: email}}, pick(func(tk udesktest.Ticket) bool { return tk.UserEmail == email }), ""},
		{"ids", Selector{IDs: []int64{17, 5, 999999, 3}}, []udesktest.Ticket{byID[17], byID[5], byID[3]}, "ticket 999999 not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.want) == 0 {
				t.Fatal("the selector matches no ticket of the simulator: the test proves nothing")
			}
			dir := t.TempDir()
			outs := []string{filepath.Join(dir, "t.parquet"), filepath.Join(dir, "t.xlsx"), filepath.Join(dir, "t.csv"), filepath.Join(dir, "t.jsonl")}
			c := newClient(t, sim, udesk.Config{})
			obs := &pipelinetest.Log{}
			before := sim.Requests()
			rep, err := Run(context.Background(), c, Options{Tenant: sim.URL(), Selector: tc.sel, Outputs: outs, Observer: obs})
			reqs := 0
			for k, n := range sim.Requests() {
				reqs += n - before[k]
			}
			var nf *NotFoundError
			if tc.sel.IDs != nil {
				if !errors.As(err, &nf) || !slices.Equal(nf.IDs, []int64{999999}) {
					t.Fatalf("err = %v, want 999999 not found", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if len(obs.Lines()) == 0 || !strings.HasPrefix(obs.Lines()[0], "export: state folder "+filepath.Join(dir, ".udesk-etl", "t.export-")) {
				t.Errorf("the first log line does not name the state folder: %q", obs.Lines())
			}
			if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, tc.notes) }) {
				t.Errorf("notes lack %q: %q", tc.notes, rep.Notes)
			}
			listed := tc.want
			if tc.sel.IDs == nil {
				listed = exporttest.Listed(listed)
			}
			schema, want := exporttest.Expected(t, sim, mapping.ExportOptions{}, listed)
			exporttest.Same(t, "parquet", exporttest.ReadParquet(t, outs[0]), want, false)
			exporttest.Same(t, "xlsx", exporttest.ReadXLSX(t, outs[1], schema), want, false)
			exporttest.Same(t, "csv", exporttest.ReadCSV(t, outs[2], schema), want, true)
			data, err := os.ReadFile(outs[3])
			if err != nil {
				t.Fatal(err)
			}
			exporttest.Same(t, "jsonl", exporttest.ReadJSONL(t, data, schema), want, false)

			if rep.Written != int64(len(tc.want)) {
				t.Errorf("report: %d written, want %d", rep.Written, len(tc.want))
			}
			if tc.sel.IDs == nil {
				// catalog + pages + end check (none for a single page),
				// and for a filter the list of filters (is it active?)
				pages := max((len(tc.want)+99)/100, 1)
				maxReqs := 1 + pages + 1
				if pages == 1 {
					maxReqs = 2
				}
				if tc.sel.Listing.FilterID != 0 {
					maxReqs++
				}
				if reqs != maxReqs || c.Stats().Requests != int64(maxReqs) {
					t.Errorf("%d requests (client: %d) for %d tickets, want %d", reqs, c.Stats().Requests, len(tc.want), maxReqs)
				}
			} else if rep.Failed != 1 || reqs != 5 {
				t.Errorf("ids: %d failed, %d requests; want 1 failed, 5 requests (catalog + 4 ids)", rep.Failed, reqs)
			}
		})
	}
}

// TestRunCompletedStartsNewSnapshot runs the same export twice: the second
// reads everything again into a new snapshot, and a completed snapshot keeps
// only its manifest and catalog.
func TestRunCompletedStartsNewSnapshot(t *testing.T) {
	sim, c := newSim(t, udesktest.Options{Tickets: 250, Seed: 5})
	dir := t.TempDir()
	out := filepath.Join(dir, "daily.jsonl")
	opts := Options{Tenant: sim.URL(), Outputs: []string{out}}
	if _, err := Run(context.Background(), c, opts); err != nil {
		t.Fatalf("first run: %v", err)
	}
	sim.UpdateTicket(1, func(tk *udesktest.Ticket) { tk.Subject = "changed overnight" })
	before := sim.Requests()[udesktest.EndpointList]
	obs := &pipelinetest.Log{}
	opts.Observer = obs
	if _, err := Run(context.Background(), c, opts); err != nil || len(obs.Lines()) != 1 || !strings.HasSuffix(obs.Lines()[0], "(new snapshot)") {
		t.Fatalf("second run: %v, log %q; want a new snapshot", err, obs.Lines())
	}
	if n := sim.Requests()[udesktest.EndpointList] - before; n != 4 {
		t.Errorf("second run made %d list requests, want 4 (3 pages + end check): it must not reuse old pages", n)
	}
	data, _ := os.ReadFile(out)
	if !strings.Contains(string(data), "changed overnight") {
		t.Error("the second export does not hold the changed ticket")
	}
	// One completed snapshot is kept: its manifest and catalog, no pages.
	snaps, _ := filepath.Glob(filepath.Join(dir, ".udesk-etl", "daily.export-*", "snap-*"))
	if len(snaps) != 1 {
		t.Fatalf("snapshots %v, want one", snaps)
	}
	for _, name := range []string{"manifest.json", "catalog.json", "COMPLETE"} {
		if fi, err := os.Stat(filepath.Join(snaps[0], name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(snaps[0], "pages")); !os.IsNotExist(err) {
		t.Errorf("a completed snapshot keeps its pages: %v", err)
	}
	man, _ := os.ReadFile(filepath.Join(snaps[0], "manifest.json"))
	if strings.Contains(string(man), sim.Secret()) || !strings.Contains(string(man), `"tickets_written": 250`) {
		t.Errorf("manifest:\n%s", man)
	}
}
