package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// writeResults writes success.csv (row, ticket_id, action) and errors.csv
// (the input's columns unchanged, plus error_code and error_message) into
// dir, in input row order, UTF-8 with a BOM, mode 0600, each atomically.
// They are rendered from the journal and the input on every run, so a
// resumed run's files cover the whole import.
func writeResults(dir string, header []string, ir *importRun) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("results folder: %w", err)
	}
	ir.mu.Lock()
	defer ir.mu.Unlock()
	sort.Slice(ir.successes, func(i, k int) bool { return ir.successes[i].Row < ir.successes[k].Row })
	ok := [][]string{{"row", "ticket_id", "action"}}
	for _, r := range ir.successes {
		ok = append(ok, []string{strconv.Itoa(r.Row), strconv.FormatInt(r.TicketID, 10), r.Action})
	}
	if err := writeCSVFile(filepath.Join(dir, "success.csv"), ok); err != nil {
		return err
	}
	return writeErrorsCSV(filepath.Join(dir, "errors.csv"), header, ir.failures)
}

// writeErrorsCSV writes the rejected rows so that, once fixed, the file
// imports again: the same columns, cells exactly as read (a formula escape
// included), and two more columns that import ignores.
func writeErrorsCSV(path string, header []string, failures []rowFailure) error {
	sort.SliceStable(failures, func(i, k int) bool { return failures[i].row < failures[k].row })
	recs := [][]string{append(append([]string{}, header...), colErrorCode, colErrorMessage)}
	for _, f := range failures {
		rec := make([]string, len(header), len(header)+2)
		copy(rec, f.cells)
		recs = append(recs, append(rec, f.code, f.message))
	}
	return writeCSVFile(path, recs)
}

// writeCSVFile writes records as UTF-8 CSV with a BOM (so Excel reads it as
// UTF-8), keeping line breaks inside cells verbatim, mode 0600.
func writeCSVFile(path string, recs [][]string) error {
	var b bytes.Buffer
	b.WriteString("\uFEFF")
	w := csv.NewWriter(&b)
	if err := w.WriteAll(recs); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := pipeline.WriteFileAtomic(path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// runDryImport checks every row against the live catalog and prints what a
// real run would send; it sends nothing and keeps no state.
func runDryImport(ctx context.Context, a *app, o *importOptions, in *inputFile, mf *mapping.MappingFile, client *udesk.Client, start time.Time) error {
	fields, err := fetchFields(ctx, client)
	if err != nil {
		return err
	}
	ops, ed, _, err := importRowOps(a, o, in, mf, mapping.NewCatalog(fields), client, true)
	if err != nil {
		return err
	}
	ir := &importRun{prog: newProgress(a, o.conn.quiet, "checking", "rows", 0)}
	p, err := planImport(ctx, in, ops, ir)
	ir.prog.Finish()
	if err != nil {
		return err
	}
	dir := o.results
	if dir == "" {
		dir = defaultResultsDir(o.input, o.op.String()+"-dryrun", start)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("results folder: %w", err)
	}
	epath := filepath.Join(dir, "errors.csv")
	if err := writeErrorsCSV(epath, in.header, ir.failures); err != nil {
		return err
	}
	r, spec, err := o.conn.budget(a)
	if err != nil {
		return err
	}
	ed.printDiff(a.stdout)
	p.reads = ed.reads()
	p.print(a.stdout, spec, r, len(ir.failures), epath)

	s := &summary{Command: "import --" + o.op.String() + " --dry-run", Report: pipeline.Report{Results: dir, Read: p.read, Failed: int64(len(ir.failures))}}
	if err := ed.finish(s); err != nil {
		return err
	}
	s.SetFact("creates", p.creates)
	s.SetFact("updates", p.updates)
	s.SetFact("commented_updates", p.commented)
	s.SetFact("replies", p.replies)
	return s.end(a, client, start, o.report)
}

// plan counts what an import would send.
type plan struct {
	read                                 int64
	creates, updates, commented, replies int64
	reads                                int64 // ticket reads before the writes (--check-conflicts)
}

// planImport maps every row, counting the operations and collecting the
// rejected rows in ir.failures.
func planImport(ctx context.Context, in *inputFile, im rowOps, ir *importRun) (plan, error) {
	var p plan
	for {
		rec, err := in.Next(ctx)
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		var re *pipeline.RowError
		if errors.As(err, &re) {
			p.read++
			ir.fail(rec.Pos.Row, rec.Cells, codeUnreadableRow, rowErrorMessage(rec.Pos, err))
			continue
		}
		if err != nil {
			return p, err
		}
		p.read++
		op, err := im.Operation(ctx, rec)
		if errors.Is(err, mapping.ErrUnchanged) {
			ir.prog.Add(1)
			continue
		}
		if err != nil {
			ir.fail(rec.Pos.Row, rec.Cells, rowErrorCode(err), rowErrorMessage(rec.Pos, err))
			continue
		}
		ir.prog.Add(1)
		switch {
		case op.Kind == mapping.Create:
			p.creates++
		case op.Kind == mapping.Reply:
			p.replies++
		case op.Update.Comment != nil:
			p.commented++
		default:
			p.updates++
		}
	}
}

func (p plan) writes() int64 { return p.creates + p.updates + p.commented + p.replies }

func (p plan) print(w io.Writer, spec string, r udesk.Rate, rejected int, errorsFile string) {
	fmt.Fprintf(w, "dry run: %d rows read, %d would be sent, %d rejected", p.read, p.writes(), rejected)
	if rejected > 0 {
		fmt.Fprintf(w, " (see %s)", errorsFile)
	}
	fmt.Fprintln(w)
	for _, c := range []struct {
		n    int64
		what string
	}{{p.creates, "creates (POST /api/v1/tickets.json)"}, {p.updates, "updates (PUT /api/v1/tickets/:id.json)"},
		{p.commented, "updates with a comment (PUT /api/v1/tickets/:id.json)"}, {p.replies, "replies (POST /api/v1/tickets/reply.json)"}} {
		if c.n > 0 {
			fmt.Fprintf(w, "  %d %s\n", c.n, c.what)
		}
	}
	fmt.Fprintf(w, "API calls: %d writes", p.writes())
	if p.reads > 0 {
		fmt.Fprintf(w, " + %d ticket reads (--check-conflicts)", p.reads)
	}
	fmt.Fprintln(w, " + 1 field catalog read (done)")
	if r.Limit == rate.Inf || r.Limit <= 0 {
		fmt.Fprintf(w, "time: no request budget (%s): bounded by latency and --concurrency\n", spec)
		return
	}
	secs := math.Max(0, float64(p.writes()+p.reads-int64(r.Burst))) / float64(r.Limit)
	fmt.Fprintf(w, "time: about %s at the budget of %s (plus retries; reads to settle unknown outcomes are extra)\n",
		(time.Duration(secs * float64(time.Second))).Round(time.Second), spec)
}
