package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	syncjob "github.com/udesk-etl/udesk-etl/jobs/sync"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// syncMemoryLimit is the Go heap's soft limit during a sync.
const syncMemoryLimit = 200 << 20

// syncOptions are the sync command's flags.
type syncOptions struct {
	conn         connOptions
	job          syncjob.Options
	report       string
	status       bool
	filter       int64
	agent        int64
	resumeWithin time.Duration
	catalog      string
	namespace    string
	passwordFile string
	jobs         jobsOptions // --jobs FILE: many tenants (syncjobs.go)
}

func newSyncCommand(a *app) *cobra.Command {
	var o syncOptions
	c := &cobra.Command{
		Use:   "sync --dataset DIR|s3://BUCKET/PREFIX [--filter ID [--agent ID]] [--schema evolve|freeze] [--changed-filter ID [--full-every N]] [--keep N] [--catalog postgres://…|sqlite:PATH [--namespace NS]]",
		Short: "keep an Iceberg dataset of the tickets up to date: tickets, changes and field history per run",
		Long: `Sync the tickets into a dataset for reporting: three Apache Iceberg tables (tickets, changes,
field_history) that DuckDB's iceberg_scan, Spark, PyIceberg and polars read without a catalog
server. Each run lists the tickets, compares them with the previous run and commits one snapshot
to each table; the run is published by its tickets snapshot, and a killed run leaves every table
at a committed snapshot. A ticket the listing missed is looked up by id: a delete is recorded only
when Udesk confirms it. An interrupted run resumes as the same run when the same command is run again.
A run holds a lease on the dataset (DATASET/_udesk/lease.json): a second run of it, from any
machine, exits 1 naming the holder; a lease unrenewed for --lease-ttl is taken over.`,
		Example: `  udesk-etl sync --dataset reports/tickets
  udesk-etl sync --dataset s3://bucket/udesk --changed-filter 12 --full-every 24 --keep 30
  udesk-etl sync --dataset reports/tickets --status
  udesk-etl sync --jobs tenants.yaml --parallel 2 --report report.json --log-format json`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.jobs.file != "" {
				return o.jobs.run(c.Context(), a, c.Flags(), o)
			}
			return o.run(c.Context(), a)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.job.Dataset, "dataset", "", "the dataset: a local `DIR` or s3://BUCKET/PREFIX (AWS_* variables for the bucket)")
	fs.Int64Var(&o.filter, "filter", 0, "sync the tickets of the ticket filter with this `ID` (default: every ticket)")
	fs.Int64Var(&o.agent, "agent", 0, "with --filter: read the filter as the agent with this `ID`")
	fs.Int64Var(&o.job.ChangedFilter, "changed-filter", 0, "read only the saved filter with this `ID` (tickets updated recently) and merge it into the previous run; deletes are found by full runs only")
	fs.IntVar(&o.job.FullEvery, "full-every", 0, "with --changed-filter: make every `N`th run a full one")
	fs.StringVar(&o.job.Schema, "schema", syncjob.SchemaEvolve, "on a changed field catalog: `evolve` (add columns) or freeze (fail the run, commit nothing)")
	fs.StringVar(&o.job.Headers, "headers", mapping.HeadersLabels, "name new custom field columns by `labels` (field_label) or names (field_name)")
	fs.IntVar(&o.job.Keep, "keep", 0, "keep the tickets snapshots of the last `N` runs (0: all); changes and history are kept; unreferenced files go an hour later")
	fs.StringVar(&o.report, "report", "", "also write the summary as JSON to `FILE`")
	fs.StringVar(&o.catalog, "catalog", "", "register the tables in a SQL catalog and commit through it: postgres://USER@HOST/DB (password: PGPASSWORD or --catalog-password-file) or sqlite:`PATH`")
	fs.StringVar(&o.namespace, "namespace", dataset.DefaultNamespace, "with --catalog: the catalog `NAMESPACE` of the three tables")
	fs.StringVar(&o.passwordFile, "catalog-password-file", "", "with a postgres:// --catalog: read its password from the first line of `FILE`")
	fs.BoolVar(&o.status, "status", false, "print the dataset's runs and the last run's changes, without the API")
	fs.BoolVar(&o.job.Fresh, "fresh", false, "discard the saved state of an interrupted run and start over")
	fs.DurationVar(&o.resumeWithin, "resume-within", syncjob.DefaultResumeWithin, "resume an interrupted run that started at most this `DURATION` ago; an older one starts over")
	fs.DurationVar(&o.job.LeaseTTL, "lease-ttl", syncjob.DefaultLeaseTTL, "the run's lease on the dataset lasts this `DURATION` unrenewed: another run waits that long after this one is killed (at once on this host)")
	inGroup(fs, groupSelection, "filter", "agent", "changed-filter", "full-every")
	inGroup(fs, groupOutput, "dataset", "schema", "headers", "keep", "report", "status", "catalog", "namespace", "catalog-password-file")
	inGroup(fs, groupBehaviour, "fresh", "resume-within", "lease-ttl")
	o.conn.register(fs)
	o.jobs.register(fs)
	return c
}

func (o *syncOptions) run(ctx context.Context, a *app) error {
	cat, err := o.catalogConfig(a)
	if err != nil {
		return err
	}
	o.job.Catalog = cat
	if o.status {
		if o.job.Dataset == "" {
			return usagef("--status needs --dataset")
		}
		return syncjob.PrintStatus(ctx, a.stdout, o.job.Dataset, dataset.WithCatalog(cat))
	}
	sum, _, err := o.once(ctx, a)
	if sum == nil {
		return err
	}
	if rerr := sum.writeReport(o.report); rerr != nil && err == nil {
		err = fmt.Errorf("--report: %w", rerr)
	}
	return err
}

// once runs one sync (one tenant, one dataset) and prints its summary; a
// jobs file runs it per tenant. The summary is nil when the run was refused
// before it began.
func (o *syncOptions) once(ctx context.Context, a *app) (*summary, *syncjob.Report, error) {
	if o.agent != 0 && o.filter == 0 {
		return nil, nil, usagef("--agent needs --filter (it names the agent whose view of the filter is read)")
	}
	if o.resumeWithin <= 0 {
		return nil, nil, usagef("--resume-within %s: want a positive duration", o.resumeWithin)
	}
	opts := o.job
	opts.Listing = udesk.Listing{FilterID: o.filter, AgentID: o.agent}
	opts.ResumeWithin = o.resumeWithin
	if err := opts.Validate(); err != nil {
		return nil, nil, err
	}
	c, err := o.conn.client(a)
	if err != nil {
		return nil, nil, err
	}
	if opts.Rate, _, err = o.conn.budget(a); err != nil {
		return nil, nil, err
	}
	opts.Tenant, opts.Concurrency = o.conn.tenantURL(a), o.conn.concurrency
	opts.Observer = a.observer(o.conn.quiet)
	opts.Requests = func() int64 { return c.Stats().Requests }
	if err := testHooks(a, &opts); err != nil {
		return nil, nil, err
	}

	// iceberg-go writes diagnostics (an overwrite that removes more rows
	// than it adds, which every run with deletes does) to the default
	// logger; the run's own lines say what happened.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	// A run streams the previous snapshot through Arrow buffers it drops
	// at once; a soft limit makes the collector return them before the
	// heap doubles (GOMEMLIMIT, when set, is the user's choice).
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(syncMemoryLimit)
	}
	start := time.Now()
	rep, err := syncjob.Run(ctx, c, opts)
	sum := &summary{Command: "sync"}
	if rep != nil {
		sum.Report = rep.Report
	}
	sum.finish(c, start)
	var re *pipeline.ResumableError
	switch {
	case err == nil:
		sum.print(a.stderr)
		rep.PrintRun(a.stderr)
	case errors.As(err, &re) && configRefusal(err):
		// Refused credentials are configuration: there is nothing to resume.
		err = re.Err
	}
	return sum, rep, err
}

// catalogConfig reads --catalog, --namespace and the catalog's password
// (--catalog-password-file's first line, else PGPASSWORD).
func (o *syncOptions) catalogConfig(a *app) (dataset.CatalogConfig, error) {
	if o.catalog == "" {
		if o.passwordFile != "" || o.namespace != dataset.DefaultNamespace {
			return dataset.CatalogConfig{}, usagef("--namespace and --catalog-password-file need --catalog")
		}
		return dataset.CatalogConfig{}, nil
	}
	if o.namespace == "" || strings.ContainsAny(o.namespace, ". \t") {
		return dataset.CatalogConfig{}, usagef("--namespace %q: want a name without dots or spaces", o.namespace)
	}
	c := dataset.CatalogConfig{URL: o.catalog, Namespace: o.namespace, Password: a.getenv("PGPASSWORD")}
	if o.passwordFile != "" {
		if !strings.HasPrefix(o.catalog, "postgres") {
			return c, usagef("--catalog-password-file is for a postgres:// --catalog")
		}
		data, err := os.ReadFile(o.passwordFile)
		if err != nil {
			return c, usagef("--catalog-password-file: %v", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		if c.Password = strings.TrimSpace(line); c.Password == "" {
			return c, usagef("--catalog-password-file %s: the first line is empty: want the password", o.passwordFile)
		}
	}
	return c, nil
}

// testHooks reads the variables the acceptance tests set (never documented
// for users): UDESK_TEST_CLOCK_OFFSET, a duration added to the clock, and
// UDESK_TEST_PAUSE_AT, a point of the commit (dataset.PausePoints) where the
// run sleeps 2s so that a test can kill it there.
func testHooks(a *app, opts *syncjob.Options) error {
	if s := a.getenv("UDESK_TEST_CLOCK_OFFSET"); s != "" {
		off, err := time.ParseDuration(s)
		if err != nil {
			return usagef("UDESK_TEST_CLOCK_OFFSET %q: want a duration", s)
		}
		opts.Now = func() time.Time { return time.Now().Add(off) }
	}
	if at := a.getenv("UDESK_TEST_PAUSE_AT"); at != "" {
		opts.Pause = func(point string) {
			if point == at {
				time.Sleep(2 * time.Second)
			}
		}
	}
	return nil
}
