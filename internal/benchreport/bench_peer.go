package benchreport

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// duckdbScript converts JSON pages (argv[2], a glob) to typed Parquet
// (argv[3]) with DuckDB on two threads: ids as integers, times as timestamps
// with their offset, custom fields as typed struct members.
const duckdbScript = `const { DuckDBInstance } = require('@duckdb/node-api');
(async () => {
  const [glob, out] = process.argv.slice(2);
  const db = await DuckDBInstance.create(':memory:', { threads: '2' });
  const con = await db.connect();
  await con.run("COPY (SELECT unnest(contents, recursive := true) FROM read_json('" + glob +
    "', timestampformat = '%Y-%m-%d %H:%M:%S %z', maximum_object_size = 67108864)) TO '" + out +
    "' (FORMAT parquet, COMPRESSION zstd)");
  const r = await con.runAndReadAll("SELECT count(*) FROM read_parquet('" + out + "')");
  console.log(String(r.getRows()[0][0]));
})().catch(e => { console.error(e); process.exit(1); });
`

// peerRounds is how many times the tool and DuckDB each convert the tickets,
// alternately, so that both meet the same changes of load on a shared
// machine; the best round of each is compared.
const peerRounds = 3

// peerRun times DuckDB converting the same tickets' JSON pages (as the
// simulator serves them, dumped to files first) to Parquet, alternating with
// the tool's own Parquet export of those tickets.
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
	if err := dumpPages(ctx, n, filepath.Join(d, "pages")); err != nil {
		return err
	}
	script := filepath.Join(b.o.peer, "udesk-etl-peer.js")
	if err := os.WriteFile(script, []byte(duckdbScript), 0o644); err != nil {
		return err
	}
	sim, err := newBenchSim(udesktest.Options{Tickets: n})
	if err != nil {
		return err
	}
	defer sim.Close()
	for round := 1; round <= peerRounds; round++ {
		t, err := b.export(ctx, sim, n, "parquet")
		if err != nil {
			return err
		}
		res.ToolSeconds = append(res.ToolSeconds, t.Run.Wall)
		if t.PerSecond > res.ToolPerS {
			res.ToolPerS, res.ToolCPU, res.ToolRSSMiB = t.PerSecond, t.Run.CPU, t.Run.MaxRSSMiB
		}
		b.logf("peer: DuckDB converting %d tickets' JSON pages to Parquet (round %d of %d)", n, round, peerRounds)
		out := filepath.Join(d, "duckdb.parquet")
		var stdout bytes.Buffer
		u, err := b.measured(ctx, b.o.peer, os.Environ(), &stdout, "node", script, filepath.Join(d, "pages", "*.json"), out)
		if err != nil {
			// The peer is optional equipment: say why it is missing, keep the report.
			res.Error = tail(err.Error(), 500)
			return nil
		}
		if got := strings.TrimSpace(stdout.String()); got != fmt.Sprint(n) {
			res.Error = fmt.Sprintf("DuckDB wrote %s rows, want %d", got, n)
			return nil
		}
		res.DuckDBRounds = append(res.DuckDBRounds, u.Wall)
		if res.DuckDBSeconds == 0 || u.Wall < res.DuckDBSeconds {
			res.DuckDBSeconds, res.DuckDBCPU, res.DuckDBRSSMiB = u.Wall, u.CPU, u.MaxRSSMiB
		}
	}
	res.DuckDBPerS = float64(n) / res.DuckDBSeconds
	res.Ratio = res.ToolPerS / res.DuckDBPerS
	res.Pass = res.Ratio >= 1
	if !res.Pass {
		res.Miss = fmt.Sprintf("%.0f%% slower than DuckDB", 100*(1-res.Ratio))
	}
	return nil
}

// dumpPages writes every page of n tickets, as the simulator serves them, to
// dir/page-NNNNN.json.
func dumpPages(ctx context.Context, n int, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sim, err := newBenchSim(udesktest.Options{Tickets: n})
	if err != nil {
		return err
	}
	defer sim.Close()
	c, err := udesk.NewClient(udesk.Config{BaseURL: sim.URL(), Signer: udesk.NewMD5Signer(sim.Secret())})
	if err != nil {
		return err
	}
	for p := 1; p <= ceilDiv(n, 100); p++ {
		pg, err := c.Page(ctx, udesk.Listing{}, p, 100)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("page-%05d.json", p)), pg.Raw, 0o644); err != nil {
			return err
		}
	}
	return nil
}
