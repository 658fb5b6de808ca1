package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/pipeline/export"
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
	if err := o.check(); err != nil {
		return err
	}
	opts := o.jobOptions(a)
	if err := opts.Validate(); err != nil && !(o.dryRun && len(o.outputs) == 0) {
		return err
	}
	c, err := o.conn.client(a)
	if err != nil {
		return err
	}
	if o.filter != 0 {
		if err := warnInactiveFilter(ctx, c, o.filter, o.agent, opts.Observer); err != nil {
			return err
		}
	}
	if o.dryRun {
		return o.printPlan(ctx, a, c)
	}
	return runExport(ctx, a, c, o, opts)
}

// warnInactiveFilter says so when the filter is inactive in Udesk: it may
// still list tickets, but not the ones its users expect.
func warnInactiveFilter(ctx context.Context, c *udesk.Client, id, agent int64, obs pipeline.Observer) error {
	filters, err := c.Filters(ctx, agent)
	if err != nil {
		return err
	}
	for _, f := range filters {
		if f.ID == id && !f.Active {
			obs.Logf("warning: filter %d (%s) is inactive in Udesk: its tickets are exported all the same; check it is the filter you mean (udesk-etl filters)", id, f.Name)
		}
	}
	return nil
}

// printPlan is the dry run: the tickets and requests from one request, and
// the time they take at the budget.
func (o *exportOptions) printPlan(ctx context.Context, a *app, c *udesk.Client) error {
	est, err := export.EstimateRun(ctx, c, o.selector)
	if err != nil {
		return err
	}
	r, spec, err := o.conn.budget(a)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "dry run: %s (%s); nothing was written\n", plural(est.Tickets, "ticket"), o.selector)
	fmt.Fprintf(a.stdout, "API calls: %s\n", plural(est.Requests, "request"))
	fmt.Fprintf(a.stdout, "time: %s\n", timeAtBudget(int64(est.Requests), r, spec))
	return nil
}

// check validates the selector flags and builds the selector; the job's
// own options are checked by export.Options.Validate.
func (o *exportOptions) check() error {
	n := 0
	for _, set := range []bool{o.filter != 0, o.customer != "", o.ids != ""} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return usagef("--filter, --customer and --ids select tickets in different ways: pass one of them")
	case o.agent != 0 && o.filter == 0:
		return usagef("--agent needs --filter (it names the agent whose view of the filter is read)")
	case o.filter < 0 || o.agent < 0:
		return usagef("--filter and --agent take positive ids")
	case o.filter != 0:
		o.selector.Listing = udesk.Listing{FilterID: o.filter, AgentID: o.agent}
	case o.customer != "":
		if !strings.Contains(o.customer, "@") {
			return usagef("--customer %q: want the customer's email address", o.customer)
		}
		o.selector.Listing = udesk.Listing{CustomerEmail: o.customer}
	case o.ids != "":
		ids, dups, err := parseIDs(o.ids)
		if err != nil {
			return err
		}
		o.selector.IDs, o.idDups = ids, dups
	}
	return nil
}

var idSeparators = regexp.MustCompile(`[\s,;]+`)

// parseIDs reads --ids: a list "1,2,3" or "@FILE" holding ids separated by
// commas, semicolons, spaces or lines (a first token "id" is taken as a
// header). Repeated ids are kept once, in first-seen order.
func parseIDs(spec string) (ids []int64, dups int, err error) {
	text, where := spec, "--ids"
	if name, ok := strings.CutPrefix(spec, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, 0, usagef("--ids @%s: %v", name, err)
		}
		text, where = string(b), "--ids @"+name
	}
	seen := map[int64]bool{}
	for line, l := range strings.Split(strings.TrimPrefix(text, "\uFEFF"), "\n") {
		for _, tok := range idSeparators.Split(strings.TrimSpace(l), -1) {
			if tok == "" || (len(seen) == 0 && dups == 0 && strings.EqualFold(tok, "id")) {
				continue
			}
			id, err := strconv.ParseInt(tok, 10, 64)
			if err != nil || id <= 0 {
				if where == "--ids" {
					return nil, 0, usagef("--ids: %q is not a ticket id", tok)
				}
				return nil, 0, usagef("%s line %d: %q is not a ticket id", where, line+1, tok)
			}
			if seen[id] {
				dups++
				continue
			}
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, 0, usagef("%s holds no ticket id", where)
	}
	return ids, dups, nil
}

// jobOptions are the export job's options from the flags.
func (o *exportOptions) jobOptions(a *app) export.Options {
	return export.Options{
		Selector: o.selector, Tenant: o.tenantURL(a), Outputs: o.outputs, Stdout: a.stdout,
		Headers: o.headers, SelectValues: o.selectValues, NoBOM: !o.bom, NoFormulaEscape: !o.escapeFormulas, NoOriginals: !o.originals,
		Fresh: o.fresh, Concurrency: o.conn.concurrency, Observer: a.observer(o.conn.quiet),
	}
}

// tenantURL is the URL the client uses, for the state key and the manifest,
// with any password masked.
func (o *exportOptions) tenantURL(a *app) string {
	u := o.conn.url
	if u == "" {
		u = a.getenv("UDESK_URL")
	}
	u = strings.TrimRight(u, "/")
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return u
}

// runExport runs the job and turns its report into the summary.
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
	var ue *udesk.Error
	switch {
	case err == nil:
	case errors.As(err, &nf):
		err = rejectedError{rows: int64(len(nf.IDs)), msg: nf.Error()}
	case rep != nil && rep.State != "" && !errors.Is(err, context.Canceled) && !(errors.As(err, &ue) && ue.Class == udesk.Permanent):
		// The API refused: a rerun would too; anything else a rerun resumes.
		err = fmt.Errorf("%w (run the same command again to resume from %s)", err, rep.State)
	}
	if err == nil || errors.As(err, new(rejectedError)) {
		sum.print(a.stderr)
	}
	if rerr := sum.writeReport(o.report); rerr != nil && err == nil {
		err = fmt.Errorf("--report: %w", rerr)
	}
	return err
}
