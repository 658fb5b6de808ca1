package export

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/udesk-etl/udesk-etl/internal/exporttest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/pipeline/pipelinetest"
	"github.com/udesk-etl/udesk-etl/sinks"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// newSim starts the simulator on loopback and a real client of it.
func newSim(tb testing.TB, opts udesktest.Options) (*udesktest.Server, *udesk.Client) {
	tb.Helper()
	sim, err := udesktest.NewServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sim.Close() })
	return sim, newClient(tb, sim, udesk.Config{})
}

// newClient is a client of sim with cfg's other settings.
func newClient(tb testing.TB, sim *udesktest.Server, cfg udesk.Config) *udesk.Client {
	tb.Helper()
	cfg.BaseURL, cfg.Signer = sim.URL(), udesk.NewMD5Signer(sim.Secret())
	c, err := udesk.NewClient(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestRunToParquet runs a whole export through Run into Parquet and CSV and
// reads the Parquet file back: every ticket once, every cell right; the
// report's counts and facts; the CSV's originals; the state folder where
// an earlier version put it, marked complete with its manifest.
func TestRunToParquet(t *testing.T) {
	sim, c := newSim(t, udesktest.Options{Tickets: 250, Seed: 3})
	dir := t.TempDir()
	pq, csvOut := filepath.Join(dir, "t.parquet"), filepath.Join(dir, "t.csv")
	obs := &pipelinetest.Log{}
	rep, err := Run(context.Background(), c, Options{Tenant: sim.URL(), Outputs: []string{pq, csvOut}, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Read != 250 || rep.Written != 250 || rep.Failed != 0 || rep.Skipped != 0 {
		t.Errorf("report counts %+v, want 250 read and written", rep)
	}
	if rep.Facts["pages_fetched"] != 4 || rep.Facts["passes"] != 1 || rep.Facts["total_at_end"] != 250 || rep.Facts["possibly_missing"] != 0 {
		t.Errorf("facts %v, want 3 pages and the end check in one pass", rep.Facts)
	}
	if n := sim.Requests()[udesktest.EndpointList]; n != 4 {
		t.Errorf("%d list requests, want 4", n)
	}

	// The whole file read back with the Parquet reader, every ticket once,
	// every cell as the catalog renders the simulator's ticket.
	_, want := exporttest.Expected(t, sim, mapping.ExportOptions{}, exporttest.Listed(sim.Tickets()))
	exporttest.Same(t, "parquet", exporttest.ReadParquet(t, pq), want, false)

	for _, p := range []string{sinks.CSVOriginalsPath(csvOut), sinks.CSVCatalogPath(csvOut)} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v", p, err)
		}
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, sinks.CSVOriginalsPath(csvOut)) }) {
		t.Errorf("notes do not say where the original rows are: %q", rep.Notes)
	}

	state := pipeline.StateDir(pq, "export", sim.URL(), "all tickets")
	if filepath.Dir(rep.State) != state {
		t.Errorf("snapshot %s, want one in %s (where earlier versions resume from)", rep.State, state)
	}
	if len(obs.Lines()) != 1 || obs.Lines()[0] != "export: state folder "+rep.State+" (new snapshot)" {
		t.Errorf("log lines %q", obs.Lines())
	}
	snaps, _ := filepath.Glob(filepath.Join(state, "snap-*"))
	if len(snaps) != 1 {
		t.Fatalf("snapshots %v, want one", snaps)
	}
	var man map[string]any
	b, _ := os.ReadFile(filepath.Join(snaps[0], manifestFile))
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"version": 1.0, "url": sim.URL(), "selector": "all tickets", "per_page": 100.0,
		"passes": 1.0, "total_at_start": 250.0, "total_at_end": 250.0, "tickets_written": 250.0} {
		if man[k] != v {
			t.Errorf("manifest %s = %v, want %v", k, man[k], v)
		}
	}
	if _, err := os.Stat(filepath.Join(snaps[0], "COMPLETE")); err != nil {
		t.Errorf("the snapshot is not marked complete: %v", err)
	}
}

// cancelAfter cancels the run's context once n pages have been read.
type cancelAfter struct {
	API
	mu     sync.Mutex
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) PageHead(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.PageHead, error) {
	defer c.count()
	return c.API.PageHead(ctx, l, page, perPage)
}

func (c *cancelAfter) Page(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.Page, error) {
	defer c.count()
	return c.API.Page(ctx, l, page, perPage)
}

func (c *cancelAfter) count() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n--; c.n == 0 {
		c.cancel()
	}
}

// TestRunResumes interrupts an export after two pages and runs it again:
// the second run fetches only what the first did not hold, reads the
// catalog no more, and writes every ticket once.
func TestRunResumes(t *testing.T) {
	sim, c := newSim(t, udesktest.Options{Tickets: 1000, Seed: 4})
	out := filepath.Join(t.TempDir(), "t.jsonl")
	opts := Options{Tenant: sim.URL(), Outputs: []string{out}, Concurrency: 1}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep, err := Run(ctx, &cancelAfter{API: c, n: 2, cancel: cancel}, opts)
	if !errors.Is(err, context.Canceled) || rep == nil || rep.State == "" {
		t.Fatalf("interrupted run: %v, report %+v; want context.Canceled and the state folder", err, rep)
	}
	var re *pipeline.ResumableError
	if !errors.As(err, &re) || re.State != rep.State {
		t.Errorf("interrupted run: %v, want a ResumableError naming %s", err, rep.State)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("an interrupted export left %s: %v", out, err)
	}
	// Nor a temporary file of the outputs it was writing as it fetched.
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 || entries[0].Name() != ".udesk-etl" {
		t.Errorf("an interrupted export left files beside the state folder: %v", entries)
	}
	lists, fields := sim.Requests()[udesktest.EndpointList], sim.Requests()[udesktest.EndpointFields]
	obs := &pipelinetest.Log{}
	opts.Observer = obs
	rep, err = Run(context.Background(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	held := rep.Facts["pages_held"]
	if held < 2 || rep.Facts["pages_fetched"]+held != 11 || rep.Written != 1000 {
		t.Errorf("resumed run: facts %v, %d written; want the held pages not fetched again", rep.Facts, rep.Written)
	}
	if n := sim.Requests()[udesktest.EndpointList] - lists; int64(n) != rep.Facts["pages_fetched"] {
		t.Errorf("resumed run made %d list requests, reported %d", n, rep.Facts["pages_fetched"])
	}
	if sim.Requests()[udesktest.EndpointFields] != fields || fields != 1 {
		t.Errorf("catalog read %d times in all, want once per snapshot", sim.Requests()[udesktest.EndpointFields])
	}
	if len(obs.Lines()) != 1 || !strings.Contains(obs.Lines()[0], "(resuming: ") {
		t.Errorf("log lines %q, want the resumed state folder", obs.Lines())
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.HasPrefix(n, "resumed: ") }) {
		t.Errorf("notes %q do not say the run resumed", rep.Notes)
	}
	lines := strings.Split(strings.TrimSpace(readFile(t, out)), "\n")
	if len(lines) != 1000 {
		t.Errorf("%d lines, want 1000", len(lines))
	}
}

// TestRunFreshStartsOver: Fresh discards an interrupted run's snapshot and
// fetches every page again.
func TestRunFreshStartsOver(t *testing.T) {
	sim, c := newSim(t, udesktest.Options{Tickets: 1000, Seed: 4})
	out := filepath.Join(t.TempDir(), "t.jsonl")
	opts := Options{Tenant: sim.URL(), Outputs: []string{out}, Concurrency: 1}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep, err := Run(ctx, &cancelAfter{API: c, n: 3, cancel: cancel}, opts)
	if !errors.Is(err, context.Canceled) || rep == nil || rep.State == "" {
		t.Fatalf("interrupted run: %v, report %+v; want context.Canceled and the state folder", err, rep)
	}
	interrupted := rep.State
	lists := sim.Requests()[udesktest.EndpointList]
	obs := &pipelinetest.Log{}
	opts.Fresh, opts.Observer = true, obs
	rep, err = Run(context.Background(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Lines()) == 0 || !strings.Contains(obs.Lines()[0], "(new snapshot)") {
		t.Errorf("log lines %q, want a new snapshot", obs.Lines())
	}
	// Ten pages and the end check, none of them held.
	if n := sim.Requests()[udesktest.EndpointList] - lists; n != 11 || rep.Facts["pages_held"] != 0 || rep.Written != 1000 {
		t.Errorf("fresh run: %d list requests, facts %v, %d written; want every page fetched again", n, rep.Facts, rep.Written)
	}
	if interrupted != rep.State {
		if _, err := os.Stat(interrupted); !os.IsNotExist(err) {
			t.Errorf("Fresh kept the interrupted snapshot %s", interrupted)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRunIDsNotFound exports ids some of which do not exist: the others are
// written, and the error names the missing ones.
func TestRunIDsNotFound(t *testing.T) {
	sim, c := newSim(t, udesktest.Options{Tickets: 50, Seed: 5})
	var stdout strings.Builder
	rep, err := Run(context.Background(), c, Options{Tenant: sim.URL(), Selector: Selector{IDs: []int64{17, 999999, 3}},
		Outputs: []string{"-"}, Stdout: &stdout, StateDir: filepath.Join(t.TempDir(), "state")})
	var nf *NotFoundError
	if !errors.As(err, &nf) || !slices.Equal(nf.IDs, []int64{999999}) || nf.Of != 3 {
		t.Fatalf("err = %v, want 999999 of 3 not found", err)
	}
	if rep.Written != 2 || rep.Failed != 1 || !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.HasPrefix(n, "ticket 999999 not found") }) {
		t.Errorf("report %+v", rep)
	}
	var ids []int64
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var row struct{ ID int64 }
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, row.ID)
	}
	if !slices.Equal(ids, []int64{17, 3}) {
		t.Errorf("wrote ids %v, want 17 3 in the order asked", ids)
	}
}

// TestValidate refuses options a run cannot follow with a *ConfigError,
// before any request.
func TestValidate(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{}, "no output"},
		{Options{Outputs: []string{"x.txt"}}, "unknown format"},
		{Options{Outputs: []string{filepath.Join(dir, "nope", "x.csv")}}, "does not exist"},
		{Options{Outputs: []string{"a.csv", "./a.csv"}}, "twice"},
		{Options{Outputs: []string{"-"}}, "Stdout"},
		{Options{Outputs: []string{"a.csv"}, Headers: "x"}, "headers"},
		{Options{Outputs: []string{"a.csv"}, SelectValues: "x"}, "select-values"},
	} {
		_, err := Run(context.Background(), nil, tc.opts)
		var ce *pipeline.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want a ConfigError with %q", tc.opts, err, tc.want)
		}
	}
}
