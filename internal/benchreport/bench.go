// Package benchreport measures udesk-etl against the embedded simulator
// over loopback HTTP and writes the report BENCHMARKS.md (make bench). It
// runs the tool's export and import as child processes, each started through
// a small `udesk-etl-bench --measure` process of its own, so that each run's
// peak memory is that child's alone (the simulator serves from this process),
// and it takes request counts both from the child's --report and from the
// simulator's own log: every figure in the report is measured by this run.
package benchreport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

type benchOptions struct {
	quick   bool
	jsonOut string
	mdOut   string
	sizes   []int // export sizes for speed and memory; the first is also the import dry-run size
	goBench string
	peer    string // a folder holding node_modules/@duckdb/node-api, to time DuckDB beside the tool
	workDir string
	keep    bool
	only    map[string]bool // the sections to measure (nil: all)
	exe     string          // the udesk-etl binary the runs use
	self    string          // this binary, which measures each run (--measure)

	// The budget scenario.
	budgetTickets, budgetRows int
	budgetRate                float64
	budgetLatency             time.Duration
}

// app is the bench's streams, so that tests run it in-process.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runBenchCommand(ctx, &app{os.Stdin, os.Stdout, os.Stderr}, os.Args[1:])
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "udesk-etl-bench: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "udesk-etl-bench: %v\n", err)
		os.Exit(1)
	}
}

// usageError is a bad flag: exit 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func runBenchCommand(ctx context.Context, a *app, args []string) error {
	if len(args) > 3 && args[0] == "--measure" && args[2] == "--" {
		return measureChild(ctx, a, args[1], args[3:])
	}
	o := benchOptions{budgetRate: 10, budgetLatency: 200 * time.Millisecond}
	var sizes, only string
	fs := flag.NewFlagSet("udesk-etl-bench", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.StringVar(&o.exe, "udesk-etl", "bin/udesk-etl", "the udesk-etl `BINARY` to measure")
	fs.BoolVar(&o.quick, "quick", false, "small sizes (a minute or two): a smoke test of the machinery, not a measurement")
	fs.StringVar(&o.jsonOut, "json", "", "write the report as JSON to `FILE`")
	fs.StringVar(&o.mdOut, "md", "", "write the report as Markdown to `FILE` (default: stdout)")
	fs.StringVar(&sizes, "tickets", "", "export sizes for the speed and memory runs, comma-separated (default 100000,1000000; --quick 2000,10000)")
	fs.StringVar(&o.goBench, "go-bench", "", "include the output of `go test -bench` saved in `FILE`")
	fs.StringVar(&o.peer, "peer", "", "time DuckDB converting the same JSON pages to Parquet and CSV beside the tool; `DIR` holds node_modules/@duckdb/node-api (make bench-peer)")
	fs.StringVar(&o.workDir, "work", "", "scratch `DIR` for inputs and outputs (default: a temporary folder, removed at the end)")
	fs.StringVar(&only, "only", "", "measure only these sections, comma-separated (budget, speed, memory, sync, peer): re-measuring one part without the hour of the others")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch files (the datasets and outputs) for inspection")
	fs.IntVar(&o.budgetTickets, "budget-tickets", 3000, "tickets exported in the budget run")
	fs.IntVar(&o.budgetRows, "budget-rows", 300, "rows created in the budget run")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (options start with -)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["budget-tickets"] {
			o.budgetTickets = 600
		}
		if !set["budget-rows"] {
			o.budgetRows = 40
		}
		o.sizes = []int{2000, 10000}
	} else {
		o.sizes = []int{100_000, 1_000_000}
	}
	if sizes != "" {
		o.sizes = nil
		for _, s := range strings.Split(sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(strings.ReplaceAll(s, "_", "")))
			if err != nil || n < 1 {
				return usagef("--tickets %q: want positive counts separated by commas", sizes)
			}
			o.sizes = append(o.sizes, n)
		}
	}
	if only != "" {
		o.only = map[string]bool{}
		for _, name := range strings.Split(only, ",") {
			name = strings.TrimSpace(name)
			if !slices.Contains(benchSections, name) {
				return usagef("--only %q: want sections among %s", only, strings.Join(benchSections, ", "))
			}
			o.only[name] = true
		}
	}
	if o.budgetTickets < 1 || o.budgetRows < 1 {
		return usagef("--budget-tickets and --budget-rows must be positive")
	}
	exe, err := filepath.Abs(o.exe) // the runs start in their own folders
	if err == nil {
		_, err = os.Stat(exe)
	}
	if err != nil {
		return usagef("--udesk-etl: %v (make build makes bin/udesk-etl)", err)
	}
	o.exe = exe
	if o.self, err = os.Executable(); err != nil {
		return fmt.Errorf("finding my own binary: %w", err)
	}
	rep, err := runBench(ctx, a, &o)
	if err != nil {
		return err
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := writeFileMkdir(o.jsonOut, append(b, '\n')); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	md := rep.markdown()
	if o.mdOut == "" {
		_, err = io.WriteString(a.stdout, md)
		return err
	}
	if err := writeFileMkdir(o.mdOut, []byte(md)); err != nil {
		return fmt.Errorf("--md: %w", err)
	}
	fmt.Fprintf(a.stderr, "bench: report written to %s\n", o.mdOut)
	return nil
}

func writeFileMkdir(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// benchReport is the whole report; the JSON form has the same data as the
// Markdown.
type benchReport struct {
	Command  string          `json:"command"`
	Started  time.Time       `json:"started"`
	Seconds  float64         `json:"seconds"`
	Machine  benchMachine    `json:"machine"`
	Budget   []budgetResult  `json:"budget"`
	Requests []requestResult `json:"requests"`
	Speed    []speedResult   `json:"speed"`
	Peer     *peerResult     `json:"peer,omitempty"`
	Memory   []memoryResult  `json:"memory"`
	Sync     *syncResult     `json:"sync,omitempty"`
	GoBench  []string        `json:"go_bench,omitempty"`
	Notes    []string        `json:"notes"`
}

type benchMachine struct {
	CPUs       int        `json:"cpus"`
	CPUModel   string     `json:"cpu_model,omitempty"`
	GoVersion  string     `json:"go_version"`
	OSArch     string     `json:"os_arch"`
	LoadBefore [3]float64 `json:"load_before"`
	LoadAfter  [3]float64 `json:"load_after"`
	LoadMax1m  float64    `json:"load_max_1m"` // the highest 1-minute load average seen between runs
}

// childRun is one child process's measured facts.
type childRun struct {
	Args      []string    `json:"args"`
	Wall      float64     `json:"wall_seconds"`
	CPU       float64     `json:"cpu_seconds"` // user + system, from rusage
	MaxRSSMiB float64     `json:"max_rss_mib"`
	Report    childReport `json:"report"`
}

// childReport is a run's --report: udesk-etl's summary.
type childReport struct {
	Command string `json:"command"`
	pipeline.Report
	Requests  int64   `json:"requests"`
	Retried   int64   `json:"retried"`
	Throttled int64   `json:"throttled"`
	Seconds   float64 `json:"seconds"`
}

type budgetResult struct {
	Name          string  `json:"name"`
	Work          int     `json:"work"` // tickets or rows
	Requests      int     `json:"requests"`
	Throttled429  int     `json:"throttled_429"`
	SpanSeconds   float64 `json:"span_seconds"` // first request's arrival to the last one's
	AchievedPerS  float64 `json:"achieved_per_second"`
	BudgetPerS    float64 `json:"budget_per_second"`
	Latency       string  `json:"simulator_latency"`
	Utilisation   float64 `json:"utilisation"`
	WallSeconds   float64 `json:"wall_seconds"`  // the whole child run, start to exit
	IdealSeconds  float64 `json:"ideal_seconds"` // requests / budget
	TargetUtil    float64 `json:"target_utilisation"`
	Pass          bool    `json:"pass"`
	Miss          string  `json:"miss,omitempty"`
	ToolRequests  int64   `json:"tool_requests"` // the child's own count (--report)
	ToolThrottled int64   `json:"tool_throttled"`
}

type requestResult struct {
	Work         string `json:"work"`
	N            int    `json:"n"`
	ToolRequests int64  `json:"tool_requests"`
	SimRequests  int    `json:"simulator_requests"`
	Target       int    `json:"target"`
	TargetText   string `json:"target_text"`
	Pass         bool   `json:"pass"`
	Miss         string `json:"miss,omitempty"`
}

type speedResult struct {
	Name        string   `json:"name"`
	Unit        string   `json:"unit"` // tickets or rows
	N           int      `json:"n"`
	PerSecond   float64  `json:"per_second"`
	PerCPUSec   float64  `json:"per_cpu_second"`
	Run         childRun `json:"run"`
	OutputBytes int64    `json:"output_bytes,omitempty"`
}

type memoryResult struct {
	Format    string  `json:"format"`
	SmallN    int     `json:"small_n"`
	LargeN    int     `json:"large_n"`
	SmallMiB  float64 `json:"small_max_rss_mib"`
	LargeMiB  float64 `json:"large_max_rss_mib"`
	Growth    float64 `json:"growth"`
	LimitMiB  float64 `json:"limit_mib"`
	MaxGrowth float64 `json:"max_growth"`
	Pass      bool    `json:"pass"`
	Miss      string  `json:"miss,omitempty"`
}

// bencher runs the scenarios.
type bencher struct {
	a    *app
	o    *benchOptions
	work string
	rep  *benchReport
	seq  int
}

// benchSections are the parts of the report, in the order they run.
var benchSections = []string{"budget", "speed", "memory", "sync", "peer"}

func runBench(ctx context.Context, a *app, o *benchOptions) (*benchReport, error) {
	work := o.workDir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "udesk-etl-bench-"); err != nil {
			return nil, err
		}
		if !o.keep {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &benchReport{Command: benchCommandLine(o), Started: start.UTC().Truncate(time.Second)}
	rep.Machine = benchMachine{CPUs: runtime.NumCPU(), CPUModel: cpuModel(), GoVersion: runtime.Version(),
		OSArch: runtime.GOOS + "/" + runtime.GOARCH, LoadBefore: loadAvg()}
	rep.Machine.LoadMax1m = rep.Machine.LoadBefore[0]
	b := &bencher{a: a, o: o, work: work, rep: rep}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"budget", b.budget},
		{"speed", b.speed},
		{"memory", b.memory},
		{"sync", b.syncBench},
		{"peer", b.peerRun},
	}
	for _, s := range steps {
		if o.only != nil && !o.only[s.name] {
			continue
		}
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("bench %s: %w", s.name, err)
		}
	}
	if o.goBench != "" {
		lines, err := readGoBench(o.goBench)
		if err != nil {
			return nil, fmt.Errorf("--go-bench: %w", err)
		}
		rep.GoBench = lines
	}
	rep.Machine.LoadAfter = loadAvg()
	rep.Notes = benchNotes(rep)
	rep.Seconds = math.Round(time.Since(start).Seconds())
	return rep, nil
}

func benchCommandLine(o *benchOptions) string {
	parts := []string{"udesk-etl-bench"}
	if o.quick {
		parts = append(parts, "--quick")
	}
	var ns []string
	for _, n := range o.sizes {
		ns = append(ns, strconv.Itoa(n))
	}
	parts = append(parts, "--tickets "+strings.Join(ns, ","))
	if o.only != nil {
		var names []string
		for _, name := range benchSections {
			if o.only[name] {
				names = append(names, name)
			}
		}
		parts = append(parts, "--only "+strings.Join(names, ","))
	}
	if o.goBench != "" {
		parts = append(parts, "--go-bench "+o.goBench)
	}
	if o.peer != "" {
		parts = append(parts, "--peer DIR")
	}
	if o.mdOut != "" {
		parts = append(parts, "--md "+o.mdOut)
	}
	if o.jsonOut != "" {
		parts = append(parts, "--json "+o.jsonOut)
	}
	return strings.Join(parts, " ")
}

func (b *bencher) logf(format string, args ...any) {
	if l := loadAvg(); l[0] > b.rep.Machine.LoadMax1m {
		b.rep.Machine.LoadMax1m = l[0]
	}
	fmt.Fprintf(b.a.stderr, "bench: "+format+"\n", args...)
}

// dir returns a fresh folder for one run, so that no run resumes another's state.
func (b *bencher) dir(name string) (string, error) {
	b.seq++
	d := filepath.Join(b.work, fmt.Sprintf("%02d-%s", b.seq, name))
	return d, os.MkdirAll(d, 0o755)
}

// childUsageReport is what `udesk-etl-bench --measure` writes about the command it ran.
type childUsageReport struct {
	Wall      float64 `json:"wall_seconds"`
	CPU       float64 `json:"cpu_seconds"`
	MaxRSSMiB float64 `json:"max_rss_mib"`
}

// measureChild runs argv as a child process and writes its wall time, CPU
// time and peak RSS to path. The bench starts every measured run through it:
// Linux counts into a child's peak RSS the peak of the process that started
// it (the memory the child shared until it called exec), and the bench
// process, which hosts the simulator, is large; this small process is not.
func measureChild(ctx context.Context, a *app, path string, argv []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.stdin, a.stdout, a.stderr
	t0 := time.Now()
	err := cmd.Run()
	u := childUsageReport{Wall: time.Since(t0).Seconds()}
	if cmd.ProcessState != nil {
		u.CPU, u.MaxRSSMiB = childUsage(cmd.ProcessState)
	}
	b, _ := json.Marshal(u)
	if werr := os.WriteFile(path, b, 0o644); err == nil {
		err = werr
	}
	return err
}

// measured runs argv through `udesk-etl-bench --measure` and returns its usage.
func (b *bencher) measured(ctx context.Context, dir string, env []string, stdout io.Writer, argv ...string) (childUsageReport, error) {
	var u childUsageReport
	usageFile := filepath.Join(dir, fmt.Sprintf(".usage-%d.json", time.Now().UnixNano()))
	cmd := exec.CommandContext(ctx, b.o.self, append([]string{"--measure", usageFile, "--"}, argv...)...)
	cmd.Env = env
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Run(); err != nil {
		return u, fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, tail(stderr.String(), 2000))
	}
	bs, err := os.ReadFile(usageFile)
	if err != nil {
		return u, err
	}
	os.Remove(usageFile)
	return u, json.Unmarshal(bs, &u)
}

// child runs the tool with args against sim and reads its --report.
func (b *bencher) child(ctx context.Context, sim *udesktest.Server, report string, args ...string) (childRun, error) {
	env := append(os.Environ(), "UDESK_URL="+sim.URL(), "UDESK_SECRET="+sim.Secret())
	u, err := b.measured(ctx, filepath.Dir(report), env, io.Discard, append([]string{b.o.exe}, args...)...)
	run := childRun{Args: args, Wall: u.Wall, CPU: u.CPU, MaxRSSMiB: u.MaxRSSMiB}
	if err != nil {
		return run, fmt.Errorf("udesk-etl %w", err)
	}
	bs, err := os.ReadFile(report)
	if err != nil {
		return run, fmt.Errorf("udesk-etl %s wrote no report: %w", args[0], err)
	}
	if err := json.Unmarshal(bs, &run.Report); err != nil {
		return run, fmt.Errorf("%s: %w", report, err)
	}
	return run, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func newBenchSim(opts udesktest.Options) (*udesktest.Server, error) {
	opts.Seed = 1
	opts.LogLimit = -1
	if opts.Tickets > 200_000 {
		opts.LogLimit = 0 // the default bound: a million-ticket run needs no full log
	}
	return udesktest.NewServer(opts)
}

// budget runs an export and a create import at a 10/s budget with latency.
func (b *bencher) budget(ctx context.Context) error {
	rate := strconv.FormatFloat(b.o.budgetRate, 'f', -1, 64) + "/s"
	opts := udesktest.Options{Rate: b.o.budgetRate, Latency: b.o.budgetLatency}

	// Export.
	opts.Tickets = b.o.budgetTickets
	sim, err := newBenchSim(opts)
	if err != nil {
		return err
	}
	defer sim.Close()
	d, err := b.dir("budget-export")
	if err != nil {
		return err
	}
	b.logf("budget: exporting %d tickets at %s with %v latency", opts.Tickets, rate, opts.Latency)
	report := filepath.Join(d, "report.json")
	run, err := b.child(ctx, sim, report, "export", "--quiet", "--rate", rate, "--concurrency", "4",
		"-o", filepath.Join(d, "tickets.jsonl"), "--report", report)
	if err != nil {
		return err
	}
	b.addBudget("export", opts.Tickets, run, sim)
	b.addRequests("export", opts.Tickets, run, sim, ceilDiv(opts.Tickets, 100)+2, "ceil(N/100) + 2")

	// Create import.
	opts.Tickets = 10
	sim2, err := newBenchSim(opts)
	if err != nil {
		return err
	}
	defer sim2.Close()
	if d, err = b.dir("budget-import"); err != nil {
		return err
	}
	in := filepath.Join(d, "create.csv")
	if err := writeImportCSV(in, b.o.budgetRows); err != nil {
		return err
	}
	b.logf("budget: creating %d tickets at %s with %v latency", b.o.budgetRows, rate, opts.Latency)
	report = filepath.Join(d, "report.json")
	run, err = b.child(ctx, sim2, report, "import", "--create", "--quiet", "--rate", rate, "--concurrency", "4",
		"-i", in, "--results", filepath.Join(d, "results"), "--report", report)
	if err != nil {
		return err
	}
	b.addBudget("import --create", b.o.budgetRows, run, sim2)
	b.addRequests("import --create", b.o.budgetRows, run, sim2, b.o.budgetRows+1, "N + 1 (the catalog)")
	return nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func (b *bencher) addBudget(name string, work int, run childRun, sim *udesktest.Server) {
	log := sim.Log()
	r := budgetResult{Name: name, Work: work, Requests: len(log), BudgetPerS: b.o.budgetRate, Latency: b.o.budgetLatency.String(), TargetUtil: 0.95,
		WallSeconds: run.Wall, ToolRequests: run.Report.Requests, ToolThrottled: run.Report.Throttled}
	if len(log) > 1 {
		first, last := log[0].Time, log[0].Time
		for _, l := range log {
			if l.Time.Before(first) {
				first = l.Time
			}
			if l.Time.After(last) {
				last = l.Time
			}
		}
		// n requests arrive over n-1 intervals of the budget.
		r.SpanSeconds = last.Sub(first).Seconds()
		r.AchievedPerS = float64(len(log)-1) / r.SpanSeconds
		r.Utilisation = r.AchievedPerS / r.BudgetPerS
	}
	for _, l := range log {
		if l.Status == 429 {
			r.Throttled429++
		}
	}
	r.IdealSeconds = float64(len(log)) / r.BudgetPerS
	r.Pass = r.Utilisation >= r.TargetUtil && r.Throttled429 == 0
	var miss []string
	if r.Utilisation < r.TargetUtil {
		miss = append(miss, fmt.Sprintf("utilisation %.3f is %.1f points under %.2f", r.Utilisation, 100*(r.TargetUtil-r.Utilisation), r.TargetUtil))
	}
	if r.Throttled429 > 0 {
		miss = append(miss, fmt.Sprintf("%d replies 429", r.Throttled429))
	}
	r.Miss = strings.Join(miss, "; ")
	b.rep.Budget = append(b.rep.Budget, r)
}

func (b *bencher) addRequests(work string, n int, run childRun, sim *udesktest.Server, target int, targetText string) {
	simCount := 0
	for _, c := range sim.Requests() {
		simCount += c
	}
	r := requestResult{Work: work, N: n, ToolRequests: run.Report.Requests, SimRequests: simCount, Target: target, TargetText: targetText}
	r.Pass = simCount <= target && run.Report.Requests == int64(simCount)
	switch {
	case simCount > target:
		r.Miss = fmt.Sprintf("%d requests over the target", simCount-target)
	case run.Report.Requests != int64(simCount):
		r.Miss = fmt.Sprintf("the tool counted %d, the simulator %d", run.Report.Requests, simCount)
	}
	b.rep.Requests = append(b.rep.Requests, r)
}

// exportFormats are the sinks measured, in report order.
var exportFormats = []string{"parquet", "xlsx", "csv", "jsonl"}

// speed exports the first size to every sink with no budget and no latency,
// and runs import --dry-run over CSV and XLSX inputs of that many rows.
func (b *bencher) speed(ctx context.Context) error {
	n := b.o.sizes[0]
	sim, err := newBenchSim(udesktest.Options{Tickets: n})
	if err != nil {
		return err
	}
	defer sim.Close()
	for _, f := range exportFormats {
		r, err := b.export(ctx, sim, n, f)
		if err != nil {
			return err
		}
		b.rep.Speed = append(b.rep.Speed, r)
		if f == exportFormats[0] { // the simulator's first run: its counts are this run's
			b.addRequests("export (local)", n, r.Run, sim, ceilDiv(n, 100)+2, "ceil(N/100) + 2")
		}
	}
	d, err := b.dir("dry-run")
	if err != nil {
		return err
	}
	csvIn := filepath.Join(d, "rows.csv")
	if err := writeImportCSV(csvIn, n); err != nil {
		return err
	}
	xlsxIn := filepath.Join(d, "rows.xlsx")
	if err := writeImportXLSX(csvIn, xlsxIn); err != nil {
		return err
	}
	for _, in := range []string{csvIn, xlsxIn} {
		report := filepath.Join(d, filepath.Ext(in)[1:]+"-report.json")
		b.logf("speed: import --create --dry-run of %d rows from %s", n, filepath.Base(in))
		run, err := b.child(ctx, sim, report, "import", "--create", "--dry-run", "--quiet", "--rate", "unlimited",
			"-i", in, "--results", filepath.Join(d, filepath.Ext(in)[1:]+"-plan"), "--report", report)
		if err != nil {
			return err
		}
		if run.Report.Read != int64(n) {
			return fmt.Errorf("dry-run of %s read %d rows, want %d", in, run.Report.Read, n)
		}
		b.rep.Speed = append(b.rep.Speed, speedResult{Name: "import --dry-run " + filepath.Ext(in)[1:], Unit: "rows", N: n,
			PerSecond: float64(n) / run.Wall, PerCPUSec: perCPU(n, run.CPU), Run: run})
	}
	return nil
}

func perCPU(n int, cpu float64) float64 {
	if cpu <= 0 {
		return 0
	}
	return float64(n) / cpu
}

func (b *bencher) export(ctx context.Context, sim *udesktest.Server, n int, format string) (speedResult, error) {
	d, err := b.dir(fmt.Sprintf("export-%d-%s", n, format))
	if err != nil {
		return speedResult{}, err
	}
	out := filepath.Join(d, "tickets."+format)
	report := filepath.Join(d, "report.json")
	b.logf("export: %d tickets to %s", n, format)
	run, err := b.child(ctx, sim, report, "export", "--quiet", "--rate", "unlimited", "--concurrency", "4",
		"-o", out, "--report", report)
	if err != nil {
		return speedResult{}, err
	}
	if run.Report.Written != int64(n) {
		return speedResult{}, fmt.Errorf("export to %s wrote %d tickets, want %d", format, run.Report.Written, n)
	}
	r := speedResult{Name: "export " + format, Unit: "tickets", N: n, PerSecond: float64(n) / run.Wall,
		PerCPUSec: perCPU(n, run.CPU), Run: run}
	if fi, err := os.Stat(out); err == nil {
		r.OutputBytes = fi.Size()
	}
	if !b.o.keep {
		os.RemoveAll(d)
	}
	return r, nil
}

// memory compares peak RSS of Parquet and XLSX exports at the smallest and
// largest sizes (the first size's runs come from the speed section).
func (b *bencher) memory(ctx context.Context) error {
	small := b.o.sizes[0]
	large := slices.Max(b.o.sizes)
	if large == small {
		return nil
	}
	sim, err := newBenchSim(udesktest.Options{Tickets: large})
	if err != nil {
		return err
	}
	defer sim.Close()
	for _, f := range []string{"parquet", "xlsx"} {
		var s speedResult
		for _, r := range b.rep.Speed {
			if r.Name == "export "+f && r.N == small {
				s = r
			}
		}
		l, err := b.export(ctx, sim, large, f)
		if err != nil {
			return err
		}
		b.rep.Speed = append(b.rep.Speed, l)
		m := memoryResult{Format: f, SmallN: small, LargeN: large, SmallMiB: s.Run.MaxRSSMiB, LargeMiB: l.Run.MaxRSSMiB,
			LimitMiB: 300, MaxGrowth: 1.3}
		if m.SmallMiB > 0 {
			m.Growth = m.LargeMiB / m.SmallMiB
		}
		m.Pass = m.Growth <= m.MaxGrowth && m.LargeMiB < m.LimitMiB
		var miss []string
		if m.Growth > m.MaxGrowth {
			miss = append(miss, fmt.Sprintf("grows %.2fx, %.0f%% over %.1fx", m.Growth, 100*(m.Growth/m.MaxGrowth-1), m.MaxGrowth))
		}
		if m.LargeMiB >= m.LimitMiB {
			miss = append(miss, fmt.Sprintf("%.0f MiB over %.0f MiB", m.LargeMiB-m.LimitMiB, m.LimitMiB))
		}
		m.Miss = strings.Join(miss, "; ")
		b.rep.Memory = append(b.rep.Memory, m)
	}
	return nil
}

// Import inputs: create rows in the simulator's sample catalog's terms.
var importHeader = []string{"subject", "content", "email", "status", "priority", "下拉列表字段", "多选框字段", "日期字段", "日期时间字段", "链接字段", "正整数字段"}

func importRow(i int) []string {
	return []string{
		fmt.Sprintf("工单 %d", i), fmt.Sprintf("第 %d 行的内容", i), fmt.Sprintf("user%d@example.com", i%1000),
		[]string{"打开", "solving", "已解决"}[i%3], []string{"高", "low", "标准"}[i%3],
		fmt.Sprintf("下拉选项%d", i%3+1), fmt.Sprintf("多选框选项1,多选框选项%d", i%4+1),
		fmt.Sprintf("2026-11-%02d", i%28+1), fmt.Sprintf("2026-11-01 09:%02d", i%60),
		fmt.Sprintf("https://example.com/%d", i), strconv.Itoa(i%100 + 1),
	}
}

func writeImportCSV(path string, rows int) error {
	var buf bytes.Buffer
	buf.WriteString(strings.Join(importHeader, ",") + "\n")
	for i := range rows {
		for j, c := range importRow(i) {
			if j > 0 {
				buf.WriteByte(',')
			}
			if strings.ContainsAny(c, ",\"\n") {
				c = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
			}
			buf.WriteString(c)
		}
		buf.WriteByte('\n')
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// writeImportXLSX writes the same rows as the CSV at csvPath, as text cells,
// with the tool's own XLSX writer.
func writeImportXLSX(csvPath, path string) error {
	b, err := os.ReadFile(csvPath)
	if err != nil {
		return err
	}
	n := bytes.Count(b, []byte("\n")) - 1
	schema := pipeline.Schema{}
	for _, h := range importHeader {
		schema.Columns = append(schema.Columns, pipeline.Column{Name: h, Field: h, Kind: pipeline.String})
	}
	w, err := sinks.NewXLSXWriter(path, schema, sinks.XLSXOptions{})
	if err != nil {
		return err
	}
	const batch = 1000
	rows := make([]pipeline.Row, 0, batch)
	for i := range n {
		cells := importRow(i)
		vals := make([]any, len(cells))
		for j, c := range cells {
			vals[j] = c
		}
		rows = append(rows, pipeline.Row{Values: vals})
		if len(rows) == batch || i == n-1 {
			if err := w.WriteRows(rows); err != nil {
				_ = w.Abort()
				return err
			}
			rows = rows[:0]
		}
	}
	return w.Commit()
}

func readGoBench(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "pkg:") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	return lines, sc.Err()
}

// loadAvg reads /proc/loadavg (zeros where there is none).
func loadAvg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
