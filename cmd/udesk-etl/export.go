package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/udesk-etl/udesk-etl/jobs/export"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// exportOptions are the export command's flags, parsed and checked.
type exportOptions struct {
	conn           connOptions
	outputs        []string
	filter         int64
	agent          int64
	customer       string
	ids            string
	headers        string
	selectValues   string
	bom            bool
	escapeFormulas bool
	fresh          bool
	report         string
	originals      bool
	dryRun         bool

	selector export.Selector
	idDups   int // ids given more than once
}

func newExportCommand(a *app) *cobra.Command {
	var o exportOptions
	c := &cobra.Command{
		Use:   "export [--filter ID [--agent ID] | --customer EMAIL | --ids LIST|@FILE] -o FILE [-o FILE ...]",
		Short: "tickets out of Udesk into .parquet, .xlsx, .csv or .jsonl files",
		Long: `Export tickets out of Udesk: every ticket, or those of a filter, a customer or a list of ids.
The format follows each output file's extension (.parquet, .xlsx, .csv, .jsonl); several -o
write several formats from one pass over the API, and -o - writes JSON lines to stdout.
An interrupted export resumes when the same command is run again.`,
		Example: `  udesk-etl export -o tickets.parquet
  udesk-etl export --filter 2 -o urgent.xlsx -o urgent.csv
  udesk-etl export --customer li.lei@example.com -o - | jq .subject
  udesk-etl export --ids @ids.txt -o some.csv --escape-formulas=false`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return o.run(c.Context(), a) },
	}
	fs := c.Flags()
	fs.Int64Var(&o.filter, "filter", 0, "export the tickets of the ticket filter with this `ID` (see udesk-etl filters)")
	fs.Int64Var(&o.agent, "agent", 0, "with --filter: read the filter as the agent with this `ID`")
	fs.StringVar(&o.customer, "customer", "", "export the tickets of the customer with this `EMAIL`")
	fs.StringVar(&o.ids, "ids", "", "export these tickets: a `LIST` of ids (1,2,3) or @FILE with ids separated by commas, spaces or lines")
	fs.StringArrayVarP(&o.outputs, "output", "o", nil, "write to `FILE`: .parquet, .xlsx, .csv or .jsonl by extension; - writes JSON lines to stdout (repeatable: several formats in one pass)")
	fs.StringVar(&o.headers, "headers", mapping.HeadersLabels, "custom field column headers: `labels` (field_label) or names (field_name)")
	fs.StringVar(&o.selectValues, "select-values", mapping.SelectLabels, "select field values: `labels` or indexes")
	fs.BoolVar(&o.bom, "bom", true, "start CSV files with a UTF-8 byte order mark (so Excel reads them as UTF-8)")
	fs.BoolVar(&o.escapeFormulas, "escape-formulas", true, "CSV: put ' before text a spreadsheet would run as a formula; =false for files meant for analysis only")
	fs.BoolVar(&o.originals, "originals", true, "keep the rows as written (a hidden sheet in .xlsx, a copy in .udesk-etl beside a .csv) so that import --update of the edited file sends only what changed")
	fs.StringVar(&o.report, "report", "", "also write the summary as JSON to `FILE`")
	fs.BoolVar(&o.fresh, "fresh", false, "discard the saved state of an interrupted run and start over")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print how many tickets and requests the export takes, and the time at the budget, from one request; write nothing")
	inGroup(fs, groupSelection, "filter", "agent", "customer", "ids")
	inGroup(fs, groupOutput, "output", "headers", "select-values", "bom", "escape-formulas", "originals", "report")
	inGroup(fs, groupBehaviour, "fresh", "dry-run")
	o.conn.register(fs)
	return c
}

func (o *exportOptions) run(ctx context.Context, a *app) error {
	var err error
	if o.selector, o.idDups, err = selectorOf(o.filter, o.agent, o.customer, o.ids); err != nil {
		return err
	}
	opts := export.Options{
		Selector: o.selector, Tenant: o.conn.tenantURL(a), Outputs: o.outputs, Stdout: a.stdout,
		Headers: o.headers, SelectValues: o.selectValues, NoBOM: !o.bom, NoFormulaEscape: !o.escapeFormulas, NoOriginals: !o.originals,
		Fresh: o.fresh, Concurrency: o.conn.concurrency, Observer: a.observer(o.conn.quiet),
	}
	if !o.dryRun || len(o.outputs) > 0 {
		// Before the client: a bad -o is named before a missing secret.
		if err := opts.Validate(); err != nil {
			return err
		}
	}
	c, err := o.conn.client(a)
	if err != nil {
		return err
	}
	if o.dryRun {
		return o.printPlan(ctx, a, c, opts)
	}
	return runExport(ctx, a, c, o, opts)
}

// printPlan is the dry run: the tickets and requests from one request, and
// the time they take at the budget.
func (o *exportOptions) printPlan(ctx context.Context, a *app, c *udesk.Client, opts export.Options) error {
	p, err := export.Plan(ctx, c, opts)
	if err != nil {
		return err
	}
	r, spec, err := o.conn.budget(a)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "dry run: %s (%s); nothing was written\n", plural(p.Tickets, "ticket"), o.selector)
	fmt.Fprintf(a.stdout, "API calls: %s\n", plural(p.Requests, "request"))
	fmt.Fprintf(a.stdout, "time: %s\n", timeAtBudget(int64(p.Requests), r, spec))
	return nil
}

// runExport runs the job and turns its report into the summary and the
// exit code.
func runExport(ctx context.Context, a *app, c *udesk.Client, o *exportOptions, opts export.Options) error {
	start := time.Now()
	rep, err := export.Run(ctx, c, opts)
	sum := &summary{Command: "export"}
	if rep != nil {
		sum.Report = *rep
	}
	var nf *export.NotFoundError
	if o.idDups > 0 && (err == nil || errors.As(err, &nf)) {
		sum.Note("%d repeated ids in --ids were exported once", o.idDups)
	}
	sum.finish(c, start)
	switch {
	case err == nil:
		sum.print(a.stderr)
	case errors.As(err, &nf): // exit 3: the ids found are exported
		err = rejectedError{rows: int64(len(nf.IDs)), msg: nf.Error()}
		sum.print(a.stderr)
	case errors.As(err, new(*export.IncompleteError)): // exit 1: the outputs are written, but not shown complete
		sum.print(a.stderr)
	}
	if rerr := sum.writeReport(o.report); rerr != nil && err == nil {
		err = fmt.Errorf("--report: %w", rerr)
	}
	return err
}
