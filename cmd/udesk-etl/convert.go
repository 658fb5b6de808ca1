package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/udesk-etl/udesk-etl/jobs/ingest"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// convertOptions are the flags of `udesk-etl convert`.
type convertOptions struct {
	conn connOptions
	inputOptions
	opts   ingest.ConvertOptions
	fields string
	report string
	op     func() (mapping.OpKind, error)
}

func newConvertCommand(a *app) *cobra.Command {
	var o convertOptions
	c := &cobra.Command{
		Use:   "convert -i FILE -o FILE [--create|--update|--reply] [--mapping FILE] [--fields FILE]",
		Short: "map a file as import would, without the API",
		Long: "Map a file as import would and write what would be sent, without sending anything. The field\n" +
			"catalog comes from --fields FILE (written by 'udesk-etl fields -o FILE') or from the tenant.\n\n" + importColumns,
		Example: `  udesk-etl fields -o fields.json
  udesk-etl convert -i new.xlsx -o mapped.jsonl --fields fields.json`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return o.run(c.Context(), a) },
	}
	fs := c.Flags()
	o.op = opFlags(fs, mapping.Create, false)
	o.inputOptions.register(fs)
	fs.StringVar(&o.fields, "fields", "", "the field catalog `FILE` written by 'udesk-etl fields -o' (default: read from the tenant)")
	fs.StringVarP(&o.opts.Output, "output", "o", "", "the output `FILE` (.csv, .jsonl, .xlsx or .parquet; - for JSON lines on stdout)")
	fs.StringVar(&o.opts.ErrorsFile, "errors", "", "write the rejected rows, if any, to `FILE` (default: <output>.errors.csv beside the output)")
	fs.StringVar(&o.report, "report", "", "write the summary as JSON to `FILE`")
	inGroup(fs, groupSelection, "fields")
	inGroup(fs, groupOutput, "output", "errors", "report")
	o.conn.register(fs)
	return c
}

func (o *convertOptions) run(ctx context.Context, a *app) error {
	var err error
	if o.opts.Op, err = o.op(); err != nil {
		return err
	}
	if o.in.Path == "" || o.opts.Output == "" {
		return usagef("convert needs -i FILE and -o FILE")
	}
	return runConvert(ctx, a, o)
}

// runConvert is the face of ingest.Convert, with the catalog from --fields
// or the tenant.
func runConvert(ctx context.Context, a *app, o *convertOptions) error {
	start := time.Now()
	var client *udesk.Client
	var err error
	if o.fields != "" {
		if o.opts.Catalog, err = mapping.LoadCatalog(o.fields); err != nil {
			return usageError{fmt.Errorf("--fields: %w", err)}
		}
	} else {
		if client, err = o.conn.client(a); err != nil {
			return usageError{fmt.Errorf("%w (or pass --fields FILE, written by 'udesk-etl fields -o FILE')", err)}
		}
		if o.opts.Catalog, err = ingest.FetchCatalog(ctx, client); err != nil {
			return err
		}
	}
	o.opts.Observer, o.opts.Stdout = a.observer(o.conn.quiet), a.stdout
	rep, err := ingest.Convert(ctx, o.in, o.opts)
	if err != nil {
		return err
	}
	s := &summary{Command: "convert --" + o.opts.Op.String(), Report: *rep, input: o.in.Path}
	if rep.Failed > 0 { // the errors file is the last output
		s.errorsAt = rep.Outputs[len(rep.Outputs)-1]
	}
	return s.end(a, client, start, o.report)
}
