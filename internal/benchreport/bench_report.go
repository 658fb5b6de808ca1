package benchreport

import (
	"fmt"
	"strings"
)

func passText(pass bool, miss string) string {
	if pass {
		return "pass"
	}
	return "**miss**: " + miss
}

// list formats each value with format, comma-separated.
func list(format string, vs []float64) string {
	var parts []string
	for _, v := range vs {
		parts = append(parts, fmt.Sprintf(format, v))
	}
	return strings.Join(parts, ", ")
}

func mib(v float64) string { return fmt.Sprintf("%.0f MiB", v) }

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// markdown renders the report; every number comes from rep.
func (rep *benchReport) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	m := rep.Machine
	p("# udesk-etl benchmarks")
	p("")
	p("Produced by `make bench` (`%s`) on %s, in %.0f s. Every figure below was measured by that run: "+
		"the udesk-etl binary ran as child processes of the bench, which serves the embedded simulator over loopback HTTP; "+
		"request counts come from the tool's `--report` and from the simulator's own log, peak memory from each child's rusage (each started through a small "+
		"`udesk-etl-bench --measure` process, as Linux would otherwise count the bench's own peak into a child's).",
		rep.Command, rep.Started.Format("2006-01-02 15:04 MST"), rep.Seconds)
	p("")
	p("Machine: %d CPUs (%s), %s, %s. Load average (1/5/15 min) %.2f/%.2f/%.2f before, %.2f/%.2f/%.2f after, highest 1-minute figure seen between runs %.2f: "+
		"the machine is shared, so wall-clock rates are lower than on an idle one; the per-CPU-second rates are the steadier figure.",
		m.CPUs, m.CPUModel, m.GoVersion, m.OSArch, m.LoadBefore[0], m.LoadBefore[1], m.LoadBefore[2],
		m.LoadAfter[0], m.LoadAfter[1], m.LoadAfter[2], m.LoadMax1m)
	p("")

	p("## 1. Budget utilisation")
	p("")
	p("Simulator with %s latency and a %s/s budget (429 past it); the tool at `--rate %s/s --concurrency 4`. "+
		"Achieved rate = (requests - 1) / (last request's arrival - first's), as the simulator saw them.", budgetLatencyText(rep), budgetRateText(rep), budgetRateText(rep))
	p("")
	p("| run | work | requests | 429s | span | achieved req/s | utilisation | target | whole run | at the budget | result |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rep.Budget {
		p("| %s | %s | %d | %d | %.1f s | %.2f | %.3f | >= %.2f, no 429 | %.1f s | %.1f s | %s |", r.Name, thousands(r.Work), r.Requests,
			r.Throttled429, r.SpanSeconds, r.AchievedPerS, r.Utilisation, r.TargetUtil, r.WallSeconds, r.IdealSeconds, passText(r.Pass, r.Miss))
	}
	p("")
	p("\"whole run\" is the child process from start to exit; \"at the budget\" is requests / budget, the least any tool could take.")
	p("")

	p("## 2. Requests per unit of work")
	p("")
	p("| work | N | requests (tool's count) | requests (simulator's count) | target | result |")
	p("|---|---:|---:|---:|---:|---|")
	for _, r := range rep.Requests {
		p("| %s | %s | %d | %d | %d = %s | %s |", r.Work, thousands(r.N), r.ToolRequests, r.SimRequests, r.Target, r.TargetText, passText(r.Pass, r.Miss))
	}
	p("")

	p("## 3. Local speed (no budget, no latency)")
	p("")
	p("Exports read every page from the simulator (which serves from the bench process, so it competes for the same two CPUs), " +
		"spool them, and decode, map and write them as they arrive; rates are N / the child's wall time. Dry runs read, map and validate every row (one request: the catalog).")
	p("")
	p("| run | N | wall | per second | CPU (user+sys) | per CPU-second | peak RSS | output |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rep.Speed {
		out := ""
		if r.OutputBytes > 0 {
			out = fmt.Sprintf("%.1f MB", float64(r.OutputBytes)/1e6)
		}
		p("| %s | %s %s | %.1f s | %s | %.1f s | %s | %s | %s |", r.Name, thousands(r.N), r.Unit, r.Run.Wall,
			thousands(int(r.PerSecond)), r.Run.CPU, thousands(int(r.PerCPUSec)), mib(r.Run.MaxRSSMiB), out)
	}
	p("")
	if rep.Peer != nil {
		rep.Peer.markdown(p)
	} else {
		p("DuckDB was not measured in this run (`make bench-peer` installs it from npm into a temporary folder and measures it side by side).")
		p("")
	}

	p("## 4. Memory (peak RSS of the export process)")
	p("")
	p("| format | N small | RSS | N large | RSS | growth | target | result |")
	p("|---|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rep.Memory {
		p("| %s | %s | %s | %s | %s | %.2fx | <= %.1fx and < %.0f MiB | %s |", r.Format, thousands(r.SmallN), mib(r.SmallMiB),
			thousands(r.LargeN), mib(r.LargeMiB), r.Growth, r.MaxGrowth, r.LimitMiB, passText(r.Pass, r.Miss))
	}
	if len(rep.Memory) == 0 {
		p("| (one size only: no comparison) | | | | | | | |")
	}
	p("")

	if rep.Sync != nil {
		rep.Sync.markdown(p)
	}

	p("## Notes")
	p("")
	for _, n := range rep.Notes {
		p("- %s", n)
	}
	p("")
	if len(rep.GoBench) > 0 {
		p("## Go benchmarks (`go test -bench`, same run)")
		p("")
		p("```")
		for _, l := range rep.GoBench {
			p("%s", l)
		}
		p("```")
		p("")
	}
	return b.String()
}

func budgetRateText(rep *benchReport) string {
	if len(rep.Budget) == 0 {
		return "?"
	}
	return fmt.Sprintf("%g", rep.Budget[0].BudgetPerS)
}

func budgetLatencyText(rep *benchReport) string {
	if len(rep.Budget) == 0 {
		return "?"
	}
	return rep.Budget[0].Latency
}

// markdown renders the comparison with DuckDB through p, a line printer.
func (pr *peerResult) markdown(p func(format string, args ...any)) {
	p("### The tool beside DuckDB: Parquet and CSV")
	p("")
	p("%s tickets, %d rounds per format. In each round the tool exports the tickets (its command below: no format options, as a user runs it; "+
		"`--rate unlimited` as the simulator here has no budget), fetching every page over HTTP from the simulator; then DuckDB (`@duckdb/node-api`, 2 threads) "+
		"converts the same tickets' JSON pages, dumped to files beforehand from that same simulator (which fills its encoding cache, so round 1 is served like the others), "+
		"with `COPY (SELECT unnest(contents, recursive := true) FROM read_json(pages)) TO file (options)`. "+
		"A round's ratio is the tool's wall time / DuckDB's; the target is a median ratio of at most %.2f (the tool at least as fast as DuckDB), "+
		"and a tool peak RSS under %.0f MiB in every round.", thousands(pr.Tickets), pr.Rounds, peerTargetRatio, peerRSSLimitMiB)
	p("")
	p("| format | tool, s per round | DuckDB, s per round | ratio per round | median ratio | target | result | tool peak RSS | target | result |")
	p("|---|---:|---:|---:|---:|---:|---|---:|---:|---|")
	for _, f := range pr.Formats {
		if !f.measured() {
			p("| %s | not measured (below) | | | | | | | | |", f.Format)
			continue
		}
		var tool, duck, ratio []float64
		for _, r := range f.Rounds {
			tool, duck, ratio = append(tool, r.ToolSeconds), append(duck, r.DuckDBSeconds), append(ratio, r.Ratio)
		}
		p("| %s | %s | %s | %s | %.2f | <= %.2f | %s | %s | < %s | %s |", f.Format, list("%.1f", tool), list("%.1f", duck), list("%.2f", ratio),
			f.MedianRatio, f.TargetRatio, f.ratioVerdict(), mib(f.ToolRSSMiB), mib(f.RSSLimitMiB), f.rssVerdict())
	}
	p("")
	p("| format | tool CPU-s per round | DuckDB CPU-s per round | DuckDB peak RSS | output, tool / DuckDB | tool's command | DuckDB's COPY options |")
	p("|---|---:|---:|---:|---:|---|---|")
	for _, f := range pr.Formats {
		if !f.measured() {
			continue
		}
		var tool, duck []float64
		duckRSS := 0.0
		for _, r := range f.Rounds {
			tool, duck, duckRSS = append(tool, r.ToolCPU), append(duck, r.DuckDBCPU), max(duckRSS, r.DuckDBRSSMiB)
		}
		p("| %s | %s | %s | %s | %.1f / %.1f MB | `udesk-etl %s` | `%s` |", f.Format, list("%.1f", tool), list("%.1f", duck), mib(duckRSS),
			float64(f.ToolBytes)/1e6, float64(f.DuckDBBytes)/1e6, strings.Join(f.ToolArgs, " "), f.DuckDBCopy)
	}
	p("")
	for _, f := range pr.Formats {
		if !f.measured() {
			p("DuckDB could not be measured for %s: %s", f.Format, strings.Join(strings.Fields(f.Error), " "))
			p("")
		}
	}
}

func (f *peerFormat) ratioVerdict() string {
	if f.RatioPass {
		return fmt.Sprintf("pass, %.0f%% under", 100*(1-f.MedianRatio/f.TargetRatio))
	}
	return passText(false, f.RatioMiss)
}

func (f *peerFormat) rssVerdict() string {
	if f.RSSPass {
		return fmt.Sprintf("pass, %.0f MiB under", f.RSSLimitMiB-f.ToolRSSMiB)
	}
	return passText(false, f.RSSMiss)
}
