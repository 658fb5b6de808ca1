package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	syncjob "github.com/udesk-etl/udesk-etl/jobs/sync"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// jobsOptions are sync's flags for many tenants from one file.
type jobsOptions struct {
	file     string
	parallel int
}

// defaultParallel is how many tenants sync at once: two keep one slow or
// throttled tenant from holding up the rest, while the runs' Parquet
// encoding and memory (under the process's one soft heap limit) stay within
// a small scheduler machine.
const defaultParallel = 2

func (j *jobsOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&j.file, "jobs", "", "sync every tenant of the YAML `FILE` (see \"Running it on a schedule\" in the README)")
	fs.IntVar(&j.parallel, "parallel", defaultParallel, "with --jobs: sync `N` tenants at once")
	inGroup(fs, groupSelection, "jobs")
	inGroup(fs, groupBehaviour, "parallel")
}

// jobsFlags are the flags that apply to every tenant of a jobs file; any
// other flag is one tenant's and belongs in the file.
var jobsFlags = []string{"jobs", "parallel", "report", "quiet", "debug", "timeout", "ca-file", "fresh", "resume-within", "lease-ttl", "log-format", "help"}

// tenantResult is one tenant's row of the summary and of --report.
type tenantResult struct {
	Name      string         `json:"name"`
	Dataset   string         `json:"dataset"`
	ExitCode  int            `json:"exit_code"`
	Result    string         `json:"result"` // "ok", or what went wrong
	Error     string         `json:"error,omitempty"`
	Run       string         `json:"run,omitempty"`
	Counts    dataset.Counts `json:"counts"`
	Requests  int64          `json:"requests"`
	Retried   int64          `json:"retried"`
	Throttled int64          `json:"throttled"`
	Seconds   float64        `json:"seconds"`
}

// jobsReport is the --report file of a jobs run.
type jobsReport struct {
	Command  string         `json:"command"`
	ExitCode int            `json:"exit_code"`
	Tenants  []tenantResult `json:"tenants"`
}

// exitRank orders exit codes from best to worst: the run exits with its
// worst tenant's. An interruption beats all (the run was stopped), then a
// configuration to fix (2), a failed run (1), rows rejected (3).
var exitRank = []int{exitOK, exitRejected, exitFailed, exitUsage, exitInterrupted}

func worse(a, b int) int {
	if slices.Index(exitRank, b) > slices.Index(exitRank, a) {
		return b
	}
	return a
}

// run syncs every tenant of the jobs file, at most --parallel at once, and
// ends with the summary table; one tenant's failure does not stop the
// others. base holds the flags that apply to every tenant.
func (j *jobsOptions) run(ctx context.Context, a *app, fs *pflag.FlagSet, base syncOptions) error {
	var conflict []string
	fs.Visit(func(f *pflag.Flag) {
		if !slices.Contains(jobsFlags, f.Name) {
			conflict = append(conflict, "--"+f.Name)
		}
	})
	if len(conflict) > 0 {
		return usagef("--jobs runs the tenants of %s: %s belong to one tenant; give them as keys in the file", j.file, strings.Join(conflict, ", "))
	}
	if j.parallel < 1 {
		return usagef("--parallel %d: want 1 or more", j.parallel)
	}
	tenants, err := readJobsFile(j.file)
	if err != nil {
		return err
	}
	results := make([]tenantResult, len(tenants))
	sem := make(chan struct{}, j.parallel)
	var wg sync.WaitGroup
	// Tenants start in the file's order, each when one of the --parallel
	// slots is free.
	for i, t := range tenants {
		select {
		case sem <- struct{}{}:
			wg.Go(func() {
				defer func() { <-sem }()
				results[i] = runTenant(ctx, a, base, t)
			})
		case <-ctx.Done():
			results[i] = tenantResult{Name: t.Name, Dataset: t.Dataset, ExitCode: exitInterrupted, Result: "not started: interrupted"}
		}
	}
	wg.Wait()

	code := exitOK
	var failed []string
	for _, r := range results {
		code = worse(code, r.ExitCode)
		if r.ExitCode != exitOK {
			failed = append(failed, fmt.Sprintf("%s (exit %d)", r.Name, r.ExitCode))
		}
	}
	if l, ok := a.stderr.(*jsonLog); ok {
		for _, r := range results {
			level := "info"
			if r.ExitCode != exitOK {
				level = "error"
			}
			c := r.Counts
			l.forTenant(r.Name).logResult(r.Run, level, fmt.Sprintf("sync result: exit %d: %s; %d tickets: %d inserted, %d updated, %d deleted; %s",
				r.ExitCode, oneLine(r.Result), c.Tickets, c.Inserted, c.Updated, c.Deleted, plural(r.Requests, "request")))
		}
	} else {
		printTenants(a.stderr, results)
	}
	if base.report != "" {
		if err := writeJobsReport(base.report, jobsReport{Command: "sync", ExitCode: code, Tenants: results}); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	switch code {
	case exitOK:
		return nil
	case exitInterrupted:
		return context.Canceled
	}
	return exitStatus{code: code, msg: fmt.Sprintf("%d of %s failed: %s", len(failed), plural(len(results), "tenant"), strings.Join(failed, ", "))}
}

// runTenant syncs one tenant with its own client (so its own budget),
// state and log lines that name it.
func runTenant(ctx context.Context, a *app, base syncOptions, t tenantJob) tenantResult {
	res := tenantResult{Name: t.Name, Dataset: t.Dataset}
	ta := *a
	switch l := a.stderr.(type) {
	case *jsonLog:
		tl := l.forTenant(t.Name)
		defer tl.flush()
		ta.stderr = tl
	default:
		pl := newPrefixLog(a.stderr, t.Name)
		defer pl.flush()
		ta.stderr = pl
	}
	// Bars of several tenants would draw over each other: log lines.
	ta.interactive = false
	secretEnv := t.SecretEnv
	ta.getenv = func(k string) string {
		switch k {
		case "UDESK_URL":
			return ""
		case "UDESK_SECRET":
			if secretEnv == "" {
				return ""
			}
			return a.getenv(secretEnv)
		}
		return a.getenv(k)
	}

	o := syncOptions{conn: base.conn, job: base.job, resumeWithin: base.resumeWithin, filter: t.Filter, agent: t.Agent}
	o.conn.url, o.conn.secretFile, o.conn.rate = t.URL, t.SecretFile, t.Rate
	if t.Concurrency > 0 {
		o.conn.concurrency = t.Concurrency
	}
	o.job.Dataset, o.job.ChangedFilter, o.job.FullEvery, o.job.Keep = t.Dataset, t.ChangedFilter, t.FullEvery, t.Keep
	if t.Schema != "" {
		o.job.Schema = t.Schema
	}
	if t.Headers != "" {
		o.job.Headers = t.Headers
	}
	if t.LeaseTTL != "" {
		o.job.LeaseTTL, _ = time.ParseDuration(t.LeaseTTL) // checked when the file was read
	}
	o.catalog, o.namespace, o.passwordFile = t.Catalog, t.Namespace, t.CatalogPasswordFile
	if o.namespace == "" {
		o.namespace = dataset.DefaultNamespace
	}

	start := time.Now()
	var sum *summary
	var rep *syncjob.Report
	err := t.secretReadable(a)
	if err == nil {
		o.job.Catalog, err = o.catalogConfig(&ta)
	}
	if err == nil {
		sum, rep, err = o.once(ctx, &ta)
	}
	res.Seconds = time.Since(start).Seconds()
	if sum != nil {
		res.Requests, res.Retried, res.Throttled = sum.Requests, sum.Retried, sum.Throttled
	}
	if rep != nil {
		res.Run, res.Counts = rep.Run.Run, rep.Run.Counts
	}
	res.ExitCode = codeOf(err)
	if err == nil {
		res.Result = "ok"
		return res
	}
	var held *dataset.LeaseHeldError
	switch {
	case res.ExitCode == exitInterrupted:
		res.Result = "interrupted; run again to resume"
	case errors.As(err, &held):
		res.Result = "held by " + held.Holder.String()
	default:
		res.Result = err.Error()
		var ue *udesk.Error
		if errors.As(err, &ue) && ue.Code == udesk.StatusBadSignature {
			// The API's hint names the single run's sources of the secret.
			res.Result += "; this tenant's secret comes from " + t.secretSource()
		}
	}
	res.Error = res.Result
	ta.logError(fmt.Sprintf("udesk-etl sync: %s", res.Result))
	return res
}

// secretSource names where the tenant's secret is read from.
func (t tenantJob) secretSource() string {
	if t.SecretEnv != "" {
		return "secret_env " + t.SecretEnv
	}
	return "secret_file " + t.SecretFile
}

// secretReadable refuses a tenant whose secret cannot be had: that
// tenant's configuration error, the others still run.
func (t tenantJob) secretReadable(a *app) error {
	if t.SecretEnv != "" {
		if a.getenv(t.SecretEnv) == "" {
			return usagef("secret_env %s: the variable is not set or empty", t.SecretEnv)
		}
		return nil
	}
	b, err := os.ReadFile(t.SecretFile)
	if err != nil {
		return usagef("secret_file: %v", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return usagef("secret_file %s is empty", t.SecretFile)
	}
	return nil
}

// printTenants writes the table a jobs run ends with.
func printTenants(w io.Writer, results []tenantResult) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tRUN\tTICKETS\tINSERTED\tUPDATED\tDELETED\tREQUESTS\tEXIT\tRESULT")
	for _, r := range results {
		run := r.Run
		if run == "" {
			run = "-"
		}
		c := r.Counts
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Name, run, c.Tickets, c.Inserted, c.Updated, c.Deleted, r.Requests, r.ExitCode, oneLine(r.Result))
	}
	tw.Flush()
	io.WriteString(w, b.String())
}

// oneLine keeps a table row on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func writeJobsReport(path string, r jobsReport) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
