package main

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

// peerRun times DuckDB converting the same tickets' JSON pages (as the
// simulator serves them, dumped to files first) to Parquet, beside the tool's
// own Parquet export of the same size from the speed section.
func (b *bencher) peerRun(ctx context.Context) error {
	if b.o.peer == "" {
		return nil
	}
	n := b.o.sizes[0]
	res := &peerResult{Tickets: n}
	b.rep.Peer = res
	for _, r := range b.rep.Speed {
		if r.Name == "export parquet" && r.N == n {
			res.ToolPerS, res.ToolRSSMiB = r.PerSecond, r.Run.MaxRSSMiB
		}
	}
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
	b.logf("peer: DuckDB converting %d tickets' JSON pages to Parquet", n)
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
	res.DuckDBSeconds, res.DuckDBCPU, res.DuckDBRSSMiB = u.Wall, u.CPU, u.MaxRSSMiB
	res.DuckDBPerS = float64(n) / res.DuckDBSeconds
	if res.DuckDBPerS > 0 {
		res.Ratio = res.ToolPerS / res.DuckDBPerS
	}
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
