package benchreport

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// duckdbScript converts JSON pages (argv[2], a glob) to argv[3] with DuckDB
// on two threads, with the COPY options in argv[4]: ids as integers, times as
// timestamps with their offset, custom fields as typed struct members. It
// prints the rows COPY wrote.
const duckdbScript = `const { DuckDBInstance } = require('@duckdb/node-api');
(async () => {
  const [glob, out, options] = process.argv.slice(2);
  const db = await DuckDBInstance.create(':memory:', { threads: '2' });
  const con = await db.connect();
  const r = await con.runAndReadAll("COPY (SELECT unnest(contents, recursive := true) FROM read_json('" + glob +
    "', timestampformat = '%Y-%m-%d %H:%M:%S %z', maximum_object_size = 67108864)) TO '" + out + "' (" + options + ")");
  console.log(String(r.getRows()[0][0]));
})().catch(e => { console.error(e); process.exit(1); });
`

// peerFormats are the formats both write, in report order, with DuckDB's
// COPY options for each; the tool's export takes its format from the
// extension alone.
var peerFormats = []struct{ format, copyOptions string }{
	{"parquet", "FORMAT parquet, COMPRESSION zstd"},
	{"csv", "FORMAT csv, HEADER"},
}

// peerRounds is how many times the tool and DuckDB each write a format,
// alternately, so that both meet the same changes of load on a shared
// machine; each round gives one paired ratio.
const peerRounds = 5

// The targets: the median paired ratio (tool seconds / DuckDB seconds) at
// most 1, and the tool's peak RSS under 150 MiB in every round.
const (
	peerTargetRatio = 1.0
	peerRSSLimitMiB = 150.0
)

// peerResult is the tool beside DuckDB, one entry per format.
type peerResult struct {
	Tickets int          `json:"tickets"`
	Rounds  int          `json:"rounds"` // asked for; a format that failed has fewer
	Formats []peerFormat `json:"formats"`
}

// peerFormat compares the tool with DuckDB writing one format.
type peerFormat struct {
	Format      string      `json:"format"`
	ToolArgs    []string    `json:"tool_args"` // udesk-etl's arguments (file names only)
	DuckDBCopy  string      `json:"duckdb_copy_options"`
	Rounds      []peerRound `json:"rounds"`
	MedianRatio float64     `json:"median_ratio"` // of the rounds' tool / DuckDB wall times
	TargetRatio float64     `json:"target_ratio"` // the median must be at most this
	RatioPass   bool        `json:"ratio_pass"`
	RatioMiss   string      `json:"ratio_miss,omitempty"`
	ToolRSSMiB  float64     `json:"tool_max_rss_mib"` // the highest of the rounds
	RSSLimitMiB float64     `json:"rss_limit_mib"`    // the peak must stay under this
	RSSPass     bool        `json:"rss_pass"`
	RSSMiss     string      `json:"rss_miss,omitempty"`
	ToolBytes   int64       `json:"tool_output_bytes"`
	DuckDBBytes int64       `json:"duckdb_output_bytes"`
	Error       string      `json:"error,omitempty"` // why DuckDB could not be measured
}

// peerRound is one round: the tool's export, then DuckDB's conversion.
type peerRound struct {
	ToolSeconds   float64 `json:"tool_seconds"`
	ToolCPU       float64 `json:"tool_cpu_seconds"`
	ToolRSSMiB    float64 `json:"tool_max_rss_mib"`
	DuckDBSeconds float64 `json:"duckdb_seconds"`
	DuckDBCPU     float64 `json:"duckdb_cpu_seconds"`
	DuckDBRSSMiB  float64 `json:"duckdb_max_rss_mib"`
	Ratio         float64 `json:"ratio"` // tool seconds / DuckDB seconds
}

// measured reports whether every round ran and the verdicts hold figures.
func (f *peerFormat) measured() bool { return f.Error == "" && len(f.Rounds) > 0 }

// settle computes the verdicts from the rounds.
func (f *peerFormat) settle() {
	var ratios []float64
	for _, r := range f.Rounds {
		ratios = append(ratios, r.Ratio)
		f.ToolRSSMiB = max(f.ToolRSSMiB, r.ToolRSSMiB)
	}
	f.MedianRatio = median(ratios)
	f.TargetRatio, f.RSSLimitMiB = peerTargetRatio, peerRSSLimitMiB
	f.RatioPass = f.MedianRatio <= f.TargetRatio
	if !f.RatioPass {
		f.RatioMiss = fmt.Sprintf("%.0f%% over %.2f (the tool took %.2fx DuckDB's time)", 100*(f.MedianRatio/f.TargetRatio-1), f.TargetRatio, f.MedianRatio)
	}
	f.RSSPass = f.ToolRSSMiB < f.RSSLimitMiB
	if !f.RSSPass {
		f.RSSMiss = fmt.Sprintf("%.0f MiB over %.0f MiB", f.ToolRSSMiB-f.RSSLimitMiB, f.RSSLimitMiB)
	}
}

// median is the middle value, or the mean of the two middle ones for an even
// count; 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// peerRun times DuckDB converting the tickets' JSON pages (as the simulator
// serves them, dumped to files first) to each format, alternating with the
// tool's own export of those tickets from the same simulator.
func (b *bencher) peerRun(ctx context.Context) error {
	if b.o.peer == "" {
		return nil
	}
	n := b.o.sizes[0]
	res := &peerResult{Tickets: n, Rounds: peerRounds}
	b.rep.Peer = res
	d, err := b.dir("peer")
	if err != nil {
		return err
	}
	// One simulator: the dump's listing fills its encoding cache, so the
	// tool's first round is served as fast as its last.
	sim, err := newBenchSim(udesktest.Options{Tickets: n})
	if err != nil {
		return err
	}
	defer sim.Close()
	if err := dumpPages(ctx, sim, n, filepath.Join(d, "pages")); err != nil {
		return err
	}
	script := filepath.Join(b.o.peer, "udesk-etl-peer.js")
	if err := os.WriteFile(script, []byte(duckdbScript), 0o644); err != nil {
		return err
	}
	for _, pf := range peerFormats {
		f := peerFormat{Format: pf.format, DuckDBCopy: pf.copyOptions}
		if err := b.peerFormat(ctx, sim, n, script, filepath.Join(d, "pages", "*.json"), d, &f); err != nil {
			return err
		}
		if f.Error == "" {
			f.settle()
		}
		res.Formats = append(res.Formats, f)
	}
	return nil
}

// peerFormat runs the rounds of one format into f. Only the tool's failures
// are errors: DuckDB is optional equipment, so its failure is recorded in
// f.Error and the report goes on.
func (b *bencher) peerFormat(ctx context.Context, sim *udesktest.Server, n int, script, pages, dir string, f *peerFormat) error {
	out := filepath.Join(dir, "duckdb."+f.Format)
	for round := 1; round <= peerRounds; round++ {
		t, err := b.export(ctx, sim, n, f.Format)
		if err != nil {
			return err
		}
		f.ToolArgs, f.ToolBytes = fileNames(t.Run.Args), t.OutputBytes
		b.logf("peer: DuckDB converting %d tickets' JSON pages to %s (round %d of %d)", n, f.Format, round, peerRounds)
		var stdout bytes.Buffer
		u, err := b.measured(ctx, b.o.peer, os.Environ(), &stdout, "node", script, pages, out, f.DuckDBCopy)
		if err != nil {
			f.Error = tail(err.Error(), 500)
			return nil
		}
		if got := strings.TrimSpace(stdout.String()); got != fmt.Sprint(n) {
			f.Error = fmt.Sprintf("DuckDB wrote %s rows, want %d", got, n)
			return nil
		}
		if fi, err := os.Stat(out); err == nil {
			f.DuckDBBytes = fi.Size()
		}
		f.Rounds = append(f.Rounds, peerRound{ToolSeconds: t.Run.Wall, ToolCPU: t.Run.CPU, ToolRSSMiB: t.Run.MaxRSSMiB,
			DuckDBSeconds: u.Wall, DuckDBCPU: u.CPU, DuckDBRSSMiB: u.MaxRSSMiB, Ratio: t.Run.Wall / u.Wall})
	}
	return nil
}

// fileNames is args with every path cut to its file name, for the report:
// the scratch folders mean nothing to its reader.
func fileNames(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if filepath.IsAbs(a) {
			a = filepath.Base(a)
		}
		out[i] = a
	}
	return out
}

// dumpPages writes every page of the n tickets sim serves to
// dir/page-NNNNN.json.
func dumpPages(ctx context.Context, sim *udesktest.Server, n int, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c, err := udesk.NewClient(udesk.Config{BaseURL: sim.URL(), Signer: udesk.NewMD5Signer(sim.Secret())})
	if err != nil {
		return err
	}
	for p := 1; p <= ceilDiv(n, udesk.PageSize); p++ {
		pg, err := c.Page(ctx, udesk.Listing{}, p, udesk.PageSize)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("page-%05d.json", p)), pg.Raw, 0o644); err != nil {
			return err
		}
	}
	return nil
}
