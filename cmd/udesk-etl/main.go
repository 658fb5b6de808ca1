// Command udesk-etl moves Udesk helpdesk tickets in bulk: out of Udesk into
// Parquet, Excel, CSV and JSON lines, and into Udesk as creates, updates and
// replies from files. The command-line contract is in CLI.md.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/pipeline/progress"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// Exit codes, as CLI.md documents them.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitRejected    = 3
	exitInterrupted = 130
)

// app is what a command may touch of the outside world, so that tests can run
// commands in-process with their own streams and environment.
type app struct {
	stdin       io.Reader
	stdout      io.Writer
	stderr      io.Writer
	getenv      func(string) string
	interactive bool // stderr is a terminal: draw progress bars
	// abort ends the writes already sent when the command's context (stop
	// sending) has ended; nil: that context does both.
	abort context.Context
	// logFormat is --log-format: text (default) or json, whose lines
	// stderr then carries as JSON objects; job is the command they name.
	logFormat string
	job       string
}

func main() {
	stderr := &lockedWriter{w: os.Stderr}
	a := &app{
		stdin:       os.Stdin,
		stdout:      os.Stdout,
		stderr:      stderr,
		getenv:      os.Getenv,
		interactive: term.IsTerminal(int(os.Stderr.Fd())),
	}
	// The message goes to stderr as the command logs (--log-format).
	stop, abort, release := interrupts(func() io.Writer { return a.stderr })
	a.abort = abort
	code := run(stop, a, os.Args[1:])
	release()
	os.Exit(code)
}

// interrupts returns the contexts of Ctrl-C (or SIGTERM): the first ends
// stop (send nothing new, let the writes already sent get their outcome),
// the second ends abort as well (stop at once).
func interrupts(stderr func() io.Writer) (stop, abort context.Context, release func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stop, stopNow := context.WithCancel(context.Background())
	abort, abortNow := context.WithCancel(context.Background())
	go func() {
		if _, ok := <-sigs; !ok {
			return
		}
		stopNow()
		fmt.Fprintln(stderr(), "udesk-etl: interrupted: finishing the requests already sent (interrupt again to stop at once)")
		if _, ok := <-sigs; ok {
			abortNow()
		}
	}()
	return stop, abort, func() {
		signal.Stop(sigs)
		close(sigs)
		stopNow()
		abortNow()
	}
}

// newRoot is the command tree of one run: every command writes to the app's
// streams, help goes to stdout.
func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "udesk-etl COMMAND",
		Short: "move Udesk helpdesk tickets in bulk",
		Long: `udesk-etl moves Udesk helpdesk tickets in bulk: out of Udesk into Parquet, Excel, CSV and
JSON lines files, and into Udesk as creates, updates and replies from such files. Every run
is resumable: run the same command again after an interruption.`,
		Example: `  export UDESK_URL=https://demo.udesk.cn UDESK_SECRET=...
  udesk-etl filters
  udesk-etl export --filter 2 -o tickets.xlsx
  udesk-etl import --update -i tickets.xlsx --dry-run`,
		Version:       versionString(),
		Args:          unknownCommand,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(c *cobra.Command, _ []string) error {
			printHelp(c.OutOrStdout(), c)
			return usagef("no command given: choose one of the commands above")
		},
	}
	root.SuggestionsMinimumDistance = 2
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetVersionTemplate("udesk-etl {{.Version}}\n")
	root.SetHelpFunc(func(c *cobra.Command, _ []string) { printHelp(c.OutOrStdout(), c) })
	root.SetUsageFunc(func(c *cobra.Command) error { printHelp(c.OutOrStdout(), c); return nil })
	root.SetFlagErrorFunc(flagError)
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", logText, "log lines on stderr as `text` or json (objects with time, level, tenant, job, run, msg)")
	inGroup(root.PersistentFlags(), groupOutput, "log-format")
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		a.job = c.Name()
		if a.logFormat != logText && a.logFormat != logJSON {
			return usagef("--log-format %q: want text or json", a.logFormat)
		}
		return nil
	}
	root.AddCommand(newExportCommand(a), newImportCommand(a), newConvertCommand(a), newSyncCommand(a),
		newFieldsCommand(a), newFiltersCommand(a), newSimCommand(a), newVersionCommand(a))
	root.SetHelpCommand(newHelpCommand(root))
	ourCompletionTexts(root)
	return root
}

// run executes one command line and returns its exit code.
func run(ctx context.Context, a *app, args []string) int {
	// Progress, debug lines and workers' messages share stderr.
	a.stderr = &lockedWriter{w: a.stderr}
	if logFormatArg(args) == logJSON {
		// Every line on stderr becomes a JSON object; no bar is drawn.
		j := newJSONLog(a.stderr, &a.job)
		defer j.flush()
		a.stderr, a.interactive = j, false
	}
	root := newRoot(a)
	if err := mistypedCommand(root, args); err != nil {
		return exitCode(a, "udesk-etl", err)
	}
	root.SetArgs(oneDashLongFlags(root, args))
	c, err := root.ExecuteContextC(ctx)
	name := "udesk-etl"
	if c != nil {
		name = c.CommandPath()
	}
	return exitCode(a, name, err)
}

// observer shows a job's progress and log lines on stderr.
func (a *app) observer(quiet bool) progress.Observer {
	return progress.Observer{W: a.stderr, Terminal: a.interactive, Quiet: quiet}
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// usageError is a bad flag, missing configuration or an unreadable input: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// rejectedError reports a run that finished with some rows rejected: exit 3.
// Its message names the input and where the rejected rows are, so that a
// script looping over files can tell which one; msg, when set, replaces it.
type rejectedError struct {
	rows  int64
	input string // the input file ("" when there is none)
	see   string // where the rejected rows are ("" is errors.csv in the results folder)
	msg   string
}

func (e rejectedError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	verb := "were"
	if e.rows == 1 {
		verb = "was"
	}
	m := fmt.Sprintf("%s %s rejected; see %s", plural(e.rows, "row"), verb, cmp.Or(e.see, "errors.csv in the results folder"))
	if e.input != "" {
		m = e.input + ": " + m
	}
	return m
}

func exitCode(a *app, name string, err error) int {
	code := codeOf(err)
	switch {
	case code == exitOK:
	case code == exitInterrupted:
		a.logError(fmt.Sprintf("%s: interrupted; state is saved, run the same command again to resume", name))
	default:
		a.logError(fmt.Sprintf("%s: %v", name, err))
	}
	return code
}

// codeOf is the exit code of a command's error.
func codeOf(err error) int {
	var ue usageError
	var ce *pipeline.ConfigError
	var re rejectedError
	var xe exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &xe):
		return xe.code
	case errors.As(err, &re):
		return exitRejected
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue), errors.As(err, &ce), udesk.IsAuthError(err), configRefusal(err):
		// A wrong secret is configuration, like a missing one.
		return exitUsage
	default:
		return exitFailed
	}
}

// exitStatus is an outcome that chose its own exit code: the worst tenant's
// of a jobs file.
type exitStatus struct {
	code int
	msg  string
}

func (e exitStatus) Error() string { return e.msg }

// logError writes the line a failed command ends with (level error in
// --log-format json).
func (a *app) logError(msg string) {
	if l, ok := a.stderr.(errorLogger); ok {
		l.logError(msg)
		return
	}
	fmt.Fprintln(a.stderr, msg)
}
