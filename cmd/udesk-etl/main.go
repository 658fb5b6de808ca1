// Command udesk-etl moves Udesk helpdesk tickets in bulk: out of Udesk into
// Parquet, Excel, CSV and JSON lines, and into Udesk as creates, updates and
// replies from files. The command-line contract is in CLI.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/term"

	"github.com/udesk-etl/udesk-etl/pipeline"
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
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	a := &app{
		stdin:       os.Stdin,
		stdout:      os.Stdout,
		stderr:      os.Stderr,
		getenv:      os.Getenv,
		interactive: term.IsTerminal(int(os.Stderr.Fd())),
	}
	code := run(ctx, a, os.Args[1:])
	stop()
	os.Exit(code)
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

func commands() []command {
	return []command{
		{"export", "tickets out of Udesk into .parquet, .xlsx, .csv or .jsonl files", runExportCommand},
		{"import", "create, update or reply to tickets from .csv, .xlsx, .jsonl or .parquet files", runImportCommand},
		{"convert", "map a file as import would, without the API", runConvertCommand},
		{"fields", "print the ticket field catalog, or save it with -o", runFieldsCommand},
		{"filters", "list ticket filters", runFiltersCommand},
		{"sync", "keep a Parquet dataset of the tickets up to date: snapshot, changes, field history per run", runSyncCommand},
		{"sim", "serve the built-in Udesk simulator", runSimCommand},
		{"version", "print the version", runVersionCommand},
	}
}

// run executes one command line and returns its exit code.
func run(ctx context.Context, a *app, args []string) int {
	// Progress, debug lines and workers' messages share stderr.
	a.stderr = &lockedWriter{w: a.stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(a.stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return exitCode(a, c.name, c.run(ctx, a, args[1:]))
		}
	}
	fmt.Fprintf(a.stderr, "udesk-etl: unknown command %q (run udesk-etl --help)\n", args[0])
	return exitUsage
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

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: udesk-etl COMMAND [options]   (udesk-etl COMMAND -h for its options)")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nConnection: --url or UDESK_URL; the secret from UDESK_SECRET or --secret-file FILE.")
}

// usageError is a bad flag, missing configuration or an unreadable input: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// rejectedError reports a run that finished with some rows rejected: exit 3.
// msg, when set, replaces the default message.
type rejectedError struct {
	rows int64
	msg  string
}

func (e rejectedError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("%d rows were rejected; see errors.csv in the results folder", e.rows)
}

// errHelp is returned when -h was asked for; the usage is already printed.
var errHelp = errors.New("help requested")

func exitCode(a *app, name string, err error) int {
	var ue usageError
	var ce *pipeline.ConfigError
	var re rejectedError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &re):
		fmt.Fprintf(a.stderr, "udesk-etl %s: %v\n", name, err)
		return exitRejected
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(a.stderr, "udesk-etl %s: interrupted; state is saved, run the same command again to resume\n", name)
		return exitInterrupted
	case errors.As(err, &ue), errors.As(err, &ce):
		fmt.Fprintf(a.stderr, "udesk-etl %s: %v\n", name, err)
		return exitUsage
	default:
		fmt.Fprintf(a.stderr, "udesk-etl %s: %v\n", name, err)
		return exitFailed
	}
}
