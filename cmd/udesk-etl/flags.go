package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// newFlagSet returns a flag set whose errors are usage errors and whose help
// goes to the app's stderr.
func newFlagSet(a *app, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("udesk-etl "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "usage: udesk-etl %s %s\n\noptions:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, refusing positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (options start with -)", fs.Arg(0))
	}
	return nil
}

// stringList is a repeatable string flag (-o a.csv -o b.parquet).
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
