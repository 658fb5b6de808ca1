package main

import (
	"bytes"
	"context"
	"fmt"
	"runtime/debug"
	"text/tabwriter"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise
// it comes from the module's build info.
var version = "dev"

func runVersionCommand(ctx context.Context, a *app, args []string) error {
	fs := newFlagSet(a, "version", "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	fmt.Fprintf(a.stdout, "udesk-etl %s\n", v)
	return nil
}

func runFieldsCommand(ctx context.Context, a *app, args []string) error {
	var conn connOptions
	var out string
	fs := newFlagSet(a, "fields", "[-o FILE]")
	conn.register(fs)
	fs.StringVar(&out, "o", "", "save the catalog as JSON to `FILE` (for convert --fields); default: print a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := conn.client(a)
	if err != nil {
		return err
	}
	fields, err := c.Fields(ctx)
	if err != nil {
		return err
	}
	if out != "" {
		var buf bytes.Buffer
		if err := udesk.WriteFields(&buf, fields); err != nil {
			return err
		}
		if err := pipeline.WriteFileAtomic(out, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "saved %d fields to %s\n", len(fields), out)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD_NAME\tLABEL\tTYPE\tOPTIONS")
	for _, f := range fields {
		opts := ""
		for i, o := range f.Options {
			if i > 0 {
				opts += ", "
			}
			opts += o.Index + "=" + o.Label
		}
		if f.Options == nil && len(f.RawOptions) > 0 && string(f.RawOptions) != "null" {
			opts = "(options not decodable; values pass through)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, f.Label, f.ContentType, opts)
	}
	return tw.Flush()
}

func runFiltersCommand(ctx context.Context, a *app, args []string) error {
	var conn connOptions
	var agent int64
	fs := newFlagSet(a, "filters", "[--agent ID]")
	conn.register(fs)
	fs.Int64Var(&agent, "agent", 0, "only this agent's filters (`ID`)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := conn.client(a)
	if err != nil {
		return err
	}
	filters, err := c.Filters(ctx, agent)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tACTIVE\tPERMISSION\tDESCRIPTION")
	for _, f := range filters {
		fmt.Fprintf(tw, "%d\t%s\t%v\t%s\t%s\n", f.ID, f.Name, f.Active, f.Permission, f.Description)
	}
	return tw.Flush()
}
