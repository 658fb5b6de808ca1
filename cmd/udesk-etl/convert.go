package main

import (
	"context"
	"fmt"
	"time"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline/ingest"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// convertOptions are the flags of `udesk-etl convert`.
type convertOptions struct {
	conn connOptions
	inputOptions
	opts   ingest.ConvertOptions
	fields string
	report string
}

func runConvertCommand(ctx context.Context, a *app, args []string) error {
	var o convertOptions
	fs := newFlagSet(a, "convert", "-i FILE -o FILE [--create|--update|--reply] [--mapping FILE] [--fields FILE]")
	op := opFlags(fs, mapping.Create)
	o.inputOptions.register(fs)
	fs.StringVar(&o.opts.Output, "o", "", "the output `FILE` (.csv, .jsonl, .xlsx or .parquet; - for JSON lines on stdout)")
	fs.StringVar(&o.opts.ErrorsFile, "errors", "", "write the rejected rows to `FILE` (default: <output>.errors.csv beside the output)")
	fs.StringVar(&o.fields, "fields", "", "the field catalog `FILE` written by `udesk-etl fields -o` (default: read from the tenant)")
	fs.StringVar(&o.report, "report", "", "write the summary as JSON to `FILE`")
	o.conn.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if o.opts.Op, err = op(); err != nil {
		return err
	}
	if o.in.Path == "" || o.opts.Output == "" {
		return usagef("convert needs -i FILE and -o FILE")
	}
	return runConvert(ctx, a, &o)
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
			return usageError{fmt.Errorf("%w (or pass --fields FILE, written by `udesk-etl fields -o FILE`)", err)}
		}
		if o.opts.Catalog, err = ingest.FetchCatalog(ctx, client); err != nil {
			return err
		}
	}
	o.opts.Observer = observer{a: a, quiet: o.conn.quiet}
	rep, err := ingest.Convert(ctx, o.in, o.opts)
	if err != nil {
		return err
	}
	s := &summary{Command: "convert --" + o.opts.Op.String(), Report: *rep}
	return s.end(a, client, start, o.report)
}
