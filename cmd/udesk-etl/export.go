package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline/export"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// exportOptions are the export command's flags, parsed and checked.
type exportOptions struct {
	conn         connOptions
	outputs      stringList
	filter       int64
	agent        int64
	customer     string
	ids          string
	headers      string
	selectValues string
	bom          bool
	fresh        bool
	report       string
	originals    bool

	selector export.Selector
	idDups   int // ids given more than once
}

const exportSynopsis = "[--filter ID [--agent ID] | --customer EMAIL | --ids LIST|@FILE] -o FILE [-o FILE ...]"

func runExportCommand(ctx context.Context, a *app, args []string) error {
	var o exportOptions
	fs := newFlagSet(a, "export", exportSynopsis)
	o.conn.register(fs)
	fs.Var(&o.outputs, "o", "write to `FILE`: .parquet, .xlsx, .csv or .jsonl by extension; - writes JSON lines to stdout (repeatable: several formats in one pass)")
	fs.Int64Var(&o.filter, "filter", 0, "export the tickets of the ticket filter with this `ID` (see udesk-etl filters)")
	fs.Int64Var(&o.agent, "agent", 0, "with --filter: read the filter as the agent with this `ID`")
	fs.StringVar(&o.customer, "customer", "", "export the tickets of the customer with this `EMAIL`")
	fs.StringVar(&o.ids, "ids", "", "export these tickets: `LIST` of ids (1,2,3) or @FILE with ids separated by commas, spaces or lines")
	fs.StringVar(&o.headers, "headers", mapping.HeadersLabels, "custom field column headers: labels (field_label) or names (field_name)")
	fs.StringVar(&o.selectValues, "select-values", mapping.SelectLabels, "select field values: labels or indexes")
	fs.BoolVar(&o.bom, "bom", true, "start CSV files with a UTF-8 byte order mark (so Excel reads them as UTF-8)")
	fs.BoolVar(&o.fresh, "fresh", false, "discard the saved state of an interrupted run and start over")
	fs.StringVar(&o.report, "report", "", "also write the summary as JSON to `FILE`")
	fs.BoolVar(&o.originals, "originals", true, "keep the rows as written (a hidden sheet in .xlsx, a copy in .udesk-etl beside a .csv) so that import --update of the edited file sends only what changed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	opts := o.jobOptions(a)
	if err := opts.Validate(); err != nil {
		return err
	}
	c, err := o.conn.client(a)
	if err != nil {
		return err
	}
	return runExport(ctx, a, c, &o, opts)
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
		Selector: o.selector, Tenant: o.conn.tenantURL(a), Outputs: o.outputs, Stdout: a.stdout,
		Headers: o.headers, SelectValues: o.selectValues, NoBOM: !o.bom, NoOriginals: !o.originals,
		Fresh: o.fresh, Concurrency: o.conn.concurrency, Observer: observer{a, o.conn.quiet},
	}
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
	case rep != nil && !errors.Is(err, context.Canceled) && !(errors.As(err, &ue) && ue.Class == udesk.Permanent):
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
