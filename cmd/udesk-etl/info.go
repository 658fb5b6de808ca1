package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise
// it comes from the module's build info.
var version = "dev"

func versionString() string {
	if bi, ok := debug.ReadBuildInfo(); ok && version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

func newVersionCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version (also: udesk-etl --version)",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(a.stdout, "udesk-etl %s\n", versionString())
			return err
		},
	}
}

func newFieldsCommand(a *app) *cobra.Command {
	var conn connOptions
	var out string
	c := &cobra.Command{
		Use:   "fields [-o FILE]",
		Short: "print the ticket field catalog, or save it with -o",
		Long: `Print the tenant's ticket fields (field_name, label, type, select options) as a table, or save
the catalog as JSON with -o FILE for 'udesk-etl convert --fields FILE' (-o - writes it to stdout).`,
		Example: `  udesk-etl fields
  udesk-etl fields -o fields.json
  udesk-etl fields -o - | jq '.ticket_fields[].field_label'`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runFields(c.Context(), a, &conn, out) },
	}
	c.Flags().StringVarP(&out, "output", "o", "", "save the catalog as JSON to `FILE` (- for stdout; for convert --fields); default: print a table")
	inGroup(c.Flags(), groupOutput, "output")
	conn.register(c.Flags())
	return c
}

func runFields(ctx context.Context, a *app, conn *connOptions, out string) error {
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
		if out == "-" {
			_, err := a.stdout.Write(buf.Bytes())
			return err
		}
		if err := writeOutputFile(out, buf.Bytes()); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "saved %s to %s\n", plural(len(fields), "field"), out)
		return nil
	}
	return udesk.WriteFieldsTable(a.stdout, fields)
}

func newFiltersCommand(a *app) *cobra.Command {
	var conn connOptions
	var agent int64
	c := &cobra.Command{
		Use:   "filters [--agent ID]",
		Short: "list ticket filters (their ids are what export --filter takes)",
		Example: `  udesk-etl filters
  udesk-etl filters --agent 7`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := conn.client(a)
			if err != nil {
				return err
			}
			filters, err := cl.Filters(c.Context(), agent)
			if err != nil {
				return err
			}
			return udesk.WriteFiltersTable(a.stdout, filters)
		},
	}
	c.Flags().Int64Var(&agent, "agent", 0, "only the filters of the agent with this `ID`")
	inGroup(c.Flags(), groupSelection, "agent")
	conn.register(c.Flags())
	return c
}

// writeOutputFile writes an output file whole or not at all, with the mode
// any file a command writes gets: 0666 narrowed by the umask (state files
// are the ones kept private).
func writeOutputFile(path string, data []byte) error {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp := filepath.Join(dir, "."+name+".tmp-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // a no-op once renamed
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	return pipeline.SyncDir(dir)
}
