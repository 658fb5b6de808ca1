package main

// `udesk-etl import` is the face of ingest.Run and ingest.Plan: flags become
// options, the report becomes the summary, errors become exit codes. The
// journal and state layout are documented in package ingest.

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// importOptions are the flags of `udesk-etl import`.
type importOptions struct {
	conn connOptions
	inputOptions
	opts   ingest.Options
	dryRun bool
	report string
	op     func() (mapping.OpKind, error)
	upsert bool
}

// inputOptions are the flags of commands that read and map an input file
// (import and convert).
type inputOptions struct{ in ingest.Input }

func (o *inputOptions) register(fs *pflag.FlagSet) {
	fs.StringVarP(&o.in.Path, "input", "i", "", "the input `FILE` (.csv, .xlsx, .jsonl or .parquet)")
	fs.StringVar(&o.in.Sheet, "sheet", "", "XLSX: the sheet `NAME` to read (default: the first)")
	fs.StringVar(&o.in.Encoding, "encoding", "", "CSV: the `ENCODING`, utf-8, gbk or gb18030 (default: detected)")
	fs.StringVar(&o.in.MappingFile, "mapping", "", "a column mapping `FILE` (YAML or JSON)")
	fs.StringVar(&o.in.SelectValues, "select-values", "", "select fields are written as `labels` or indexes (default: either)")
	inGroup(fs, groupSelection, "input", "sheet", "encoding", "mapping", "select-values")
}

// opFlags registers --create, --update and --reply and returns a function
// that says which one was chosen (def when none, an error when several).
// withUpsert makes its messages name import's --upsert too.
func opFlags(fs *pflag.FlagSet, def mapping.OpKind, withUpsert bool) func() (mapping.OpKind, error) {
	var c, u, r bool
	fs.BoolVar(&c, "create", false, "create a ticket per row")
	fs.BoolVar(&u, "update", false, "update the ticket named by each row's id")
	fs.BoolVar(&r, "reply", false, "add a customer reply to the ticket named by each row's id")
	inGroup(fs, groupBehaviour, "create", "update", "reply")
	return func() (mapping.OpKind, error) {
		var ops []mapping.OpKind
		for _, o := range []struct {
			set bool
			k   mapping.OpKind
		}{{c, mapping.Create}, {u, mapping.Update}, {r, mapping.Reply}} {
			if o.set {
				ops = append(ops, o.k)
			}
		}
		switch {
		case len(ops) == 1:
			return ops[0], nil
		case len(ops) == 0 && def != 0:
			return def, nil
		case len(ops) == 0 && withUpsert:
			return 0, usagef("choose what to do with each row: --create, --update, --reply or --upsert --key FIELD")
		case len(ops) == 0:
			return 0, usagef("choose what to do with each row: --create, --update or --reply")
		case withUpsert:
			return 0, usagef("choose one of --create, --update, --reply and --upsert, not several")
		}
		return 0, usagef("choose one of --create, --update and --reply, not several")
	}
}

func registerEdit(fs *pflag.FlagSet, e *ingest.EditOptions) {
	fs.StringVar(&e.Originals, "originals", "", "--update: compare each row with the original rows in `PATH` (a workbook exported for editing, or the .originals.csv an export keeps beside a CSV) and send only what changed (default: found by the input's path)")
	fs.BoolVar(&e.NoOriginals, "no-originals", false, "--update: do not compare with the exported originals; send every filled cell")
	fs.BoolVar(&e.CheckConflicts, "check-conflicts", false, "--update with originals: read each changed ticket first (one more request per changed row) and leave it alone when a field it changes was changed in Udesk since the export")
	fs.StringVar(&e.DiffFile, "diff", "", "--update with originals: write the changes as CSV (row, id, column, field, old, new) to `FILE`")
	inGroup(fs, groupBehaviour, "originals", "no-originals", "check-conflicts")
	inGroup(fs, groupOutput, "diff")
}

// The columns each operation reads, for the help.
const importColumns = `Columns (matched by name, case-insensitively; a custom field by field_name or field_label):
  --create  subject, content, email, cellphone, customer_token, status, priority, assignee_name,
            assignee_email, agent_group_name, custom fields
  --update  id (required), subject, content, status, priority, agent_email or agent_id,
            agent_group_name or agent_group_id, tags, follower_emails or follower_ids, custom fields,
            comment_function, comment_author_email, comment_body; an empty cell leaves the field as it is
  --reply   id, reply_content, email
  --upsert  the --create columns, --key's field among them: each row is created, or updates only the
            fields that differ on the ticket holding its key
Status and priority may be written in Chinese or English; select fields as labels or indexes.
A file written by export imports as it is; an edited export sends only what changed.`

func newImportCommand(a *app) *cobra.Command {
	var o importOptions
	c := &cobra.Command{
		Use:   "import (--create | --update | --reply | --upsert --key FIELD) -i FILE [flags]",
		Short: "create, update or reply to tickets from .csv, .xlsx, .jsonl or .parquet files",
		Long: "Create, update or reply to tickets, one per row of the input file. Rows Udesk rejects go to\n" +
			"errors.csv in the results folder: fix it and import it again. An interrupted import resumes\n" +
			"when the same command is run again.\n\n" + importColumns,
		Example: `  udesk-etl import --create -i new.csv --dry-run
  udesk-etl import --create -i new.csv --results out/
  udesk-etl import --update -i tickets.xlsx          # an edited export: only the edits are sent
  udesk-etl import --reply -i replies.csv
  udesk-etl import --upsert --key 源工单号 -i old-helpdesk.csv --limit 20   # a pilot of a migration`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return o.run(c.Context(), a) },
	}
	fs := c.Flags()
	op := opFlags(fs, 0, true)
	fs.BoolVar(&o.upsert, "upsert", false, "make each row true in Udesk, keyed by --key: create it, update only the fields that differ, or send nothing")
	fs.StringVar(&o.opts.UpsertKey, "key", "", "--upsert: the text custom `FIELD` (field_name or label) that holds each row's source id")
	fs.BoolVar(&o.opts.Rollback, "rollback", false, "--update: read each ticket before the first update to save what it overwrites in rollback.csv (an upsert and a round-trip edit write it without reading)")
	fs.IntVar(&o.opts.Limit, "limit", 0, "handle only the first `N` rows (a pilot); the same command without --limit continues after them")
	o.inputOptions.register(fs)
	fs.BoolVar(&o.dryRun, "dry-run", false, "check every row and print the plan; send no write")
	fs.StringVar(&o.opts.Results, "results", "", "write success.csv and errors.csv into `DIR` (default: a folder beside the input)")
	fs.StringVar(&o.report, "report", "", "write the summary as JSON to `FILE`")
	fs.BoolVar(&o.opts.Fresh, "fresh", false, "discard the saved state of this import and start over")
	fs.BoolVar(&o.opts.ResendUnknown, "resend-unknown", false, "send again the rows whose outcome is unknown (may duplicate a reply or comment)")
	fs.BoolVar(&o.opts.NewRowsOnly, "new-rows-only", false, "--create: create only the rows whose id cell is empty (the rows added to an exported sheet); rows with an id are left alone")
	fs.StringVar(&o.opts.MarkerField, "marker-field", "", "create: a text custom `FIELD` that receives a unique marker per row, used to find a create whose outcome is unknown")
	inGroup(fs, groupOutput, "results", "report")
	inGroup(fs, groupBehaviour, "dry-run", "fresh", "resend-unknown", "marker-field", "new-rows-only", "upsert", "key", "rollback", "limit")
	registerEdit(fs, &o.opts.Edit)
	o.conn.register(fs)
	o.op = op
	return c
}

func (o *importOptions) run(ctx context.Context, a *app) error {
	var err error
	switch _, opErr := o.op(); {
	case o.upsert && o.opts.UpsertKey == "":
		return usagef("--upsert needs --key FIELD: the text custom field that holds each row's source id")
	case o.upsert && opErr == nil:
		return usagef("choose one of --create, --update, --reply and --upsert, not several")
	case !o.upsert && o.opts.UpsertKey != "":
		return usagef("--key applies to --upsert only")
	case !o.upsert:
		if o.opts.Op, err = o.op(); err != nil {
			return err
		}
	}
	if o.in.Path == "" {
		return usagef("no input: pass -i FILE")
	}
	return runImport(ctx, a, o)
}

// runImport checks the input (--dry-run, ingest.Plan) or imports it
// (ingest.Run), and ends with the summary.
func runImport(ctx context.Context, a *app, o *importOptions) error {
	start := time.Now()
	client, err := o.conn.client(a)
	if err != nil {
		return err
	}
	o.opts.Concurrency = o.conn.concurrency
	o.opts.Abort = a.abort
	o.opts.Observer = a.observer(o.conn.quiet)
	o.opts.Tenant = o.conn.baseURL(a)
	o.opts.Registry = pipeline.UserRegistry()
	command := "import --" + o.opts.Op.String()
	if o.opts.UpsertKey != "" {
		command = "import --upsert"
	}
	if o.dryRun {
		p, err := ingest.Plan(ctx, client, o.in, o.opts)
		if err != nil {
			return err
		}
		r, spec, err := o.conn.budget(a)
		if err != nil {
			return err
		}
		p.Print(a.stdout, r, spec)
		s := &summary{Command: command + " --dry-run", Report: p.Report, input: o.in.Path}
		return s.end(a, client, start, o.report)
	}
	rep, runErr := ingest.Run(ctx, client, o.in, o.opts)
	if rep == nil {
		return runErr
	}
	if rep.AlreadyImported {
		// The same exit as the run that finished it: scripts that retry
		// until 0 stop on rejected rows either way.
		if rep.Failed > 0 {
			return rejectedError{rows: rep.Failed, msg: fmt.Sprintf("%s: already imported, with %s rejected; see errors.csv in %s", o.in.Path, plural(rep.Failed, "row"), rep.Results)}
		}
		if o.conn.quiet { // the run's only news, which the quiet observer keeps back
			fmt.Fprintf(a.stderr, "%s: %s was already imported (%s written); results in %s; use --fresh to import it again\n",
				command, o.in.Path, plural(rep.Written, "row"), rep.Results)
		}
		return nil
	}
	s := &summary{Command: command, Report: rep.Report, input: o.in.Path}
	err = s.end(a, client, start, o.report)
	if runErr != nil {
		return runErr
	}
	return err
}
