package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// summary is what every run ends with, on stderr and, with --report, as JSON.
// A job's pipeline.Report, with the command, the requests and the time.
type summary struct {
	Command string `json:"command"`
	pipeline.Report
	Requests  int64   `json:"requests"`
	Retried   int64   `json:"retried"`
	Throttled int64   `json:"throttled"`
	Seconds   float64 `json:"seconds"`

	input    string // the input file, for the rejected rows' message
	errorsAt string // the file of rejected rows, when not errors.csv in Results
}

// finish fills in the request counts and the elapsed time.
func (s *summary) finish(c *udesk.Client, start time.Time) {
	if c != nil {
		st := c.Stats()
		s.Requests, s.Retried, s.Throttled = st.Requests, st.Retries, st.Throttled
	}
	s.Seconds = time.Since(start).Seconds()
}

func (s *summary) print(w io.Writer) {
	fmt.Fprintf(w, "%s: %d read, %d written, %d failed, %d skipped; %s (%d retried, %d throttled); %s\n",
		s.Command, s.Read, s.Written, s.Failed, s.Skipped, plural(s.Requests, "request"), s.Retried, s.Throttled,
		(time.Duration(s.Seconds * float64(time.Second))).Round(time.Millisecond))
	for _, o := range s.Outputs {
		fmt.Fprintf(w, "  wrote %s\n", o)
	}
	if s.Results != "" {
		fmt.Fprintf(w, "  results in %s\n", s.Results)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// end closes a run that rows can fail: it fills in the counts, prints the
// summary, writes the --report file and returns the rejected-rows error (exit
// 3) when some rows failed.
func (s *summary) end(a *app, c *udesk.Client, start time.Time, report string) error {
	s.finish(c, start)
	s.print(a.stderr)
	if err := s.writeReport(report); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	if s.Failed > 0 {
		see := s.errorsAt
		if see == "" && s.Results != "" {
			see = "errors.csv in " + s.Results
		}
		return rejectedError{rows: s.Failed, input: s.input, see: see}
	}
	return nil
}

// writeReport writes the summary as JSON to path (the --report flag).
func (s *summary) writeReport(path string) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// plural is n and the noun, with an s unless n is 1: "1 request", "2 requests".
func plural[N int | int64](n N, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// timeAtBudget is about how long n requests take at the budget r (written
// spec by the user), for dry runs.
func timeAtBudget(n int64, r udesk.Rate, spec string) string {
	if r.Unlimited() {
		return fmt.Sprintf("no request budget (%s): bounded by latency and --concurrency", spec)
	}
	return fmt.Sprintf("%s at the budget of %s (plus retries)", pipeline.Approx(r.Duration(n)), spec)
}
