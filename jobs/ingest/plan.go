package ingest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// PlanReport is what an import would send, as Plan found it.
type PlanReport struct {
	pipeline.Report
	Creates          int64
	Updates          int64
	CommentedUpdates int64
	Replies          int64
	TicketReads      int64  // reads before the writes (EditOptions.CheckConflicts)
	RollbackReads    int64  // reads of the tickets a plain update changes (Options.Rollback)
	ListRequests     int64  // an upsert's listing of the tickets for the key index
	Unchanged        int64  // upsert rows whose ticket already holds their values
	ErrorsFile       string // the rejected rows
	// Changes are the round trip's changed fields, nil without originals.
	Changes []mapping.Change

	ed  *editRun
	ups *upsertRun
}

// Writes is the number of writes the import would send.
func (p *PlanReport) Writes() int64 { return p.Creates + p.Updates + p.CommentedUpdates + p.Replies }

// Plan checks every row of input against the tenant's live catalog and
// counts what Run would send; it sends nothing and keeps no state. The
// rejected rows go to errors.csv in Options.Results (default: a folder
// beside the input), made only when a row is rejected. Rejected rows are
// counted in the report's Failed.
func Plan(ctx context.Context, api API, input Input, opts Options) (*PlanReport, error) {
	f, mf, err := opts.open(input)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cat, err := FetchCatalog(ctx, api)
	if err != nil {
		return nil, err
	}
	obs := opts.observer()
	ops, ed, _, err := rowOpsFor(ctx, cat, f, mf, input, opts, api, obs, true)
	if err != nil {
		return nil, err
	}
	p := &PlanReport{ed: ed}
	if p.ups, _ = ops.(*upsertRun); p.ups != nil {
		if p.ups.index, err = listKeys(ctx, api, p.ups.u.KeyField(), obs); err != nil {
			return nil, err
		}
	}
	prog := obs.Phase("checking", "rows", 0)
	defer countRows(ctx, input, prog, opts.Limit, nil)()
	t := newTally(prog)
	f.noteReader(&p.Report)
	p.Read, err = mapRows(ctx, f, ops, t, rowSteps{emit: func(_ pipeline.Record, op mapping.Operation) error {
		prog.Add(1)
		switch {
		case op.Kind == mapping.Create:
			p.Creates++
		case op.Kind == mapping.Reply:
			p.Replies++
		case op.Update.Comment != nil:
			p.CommentedUpdates++
		default:
			p.Updates++
		}
		return nil
	}})
	prog.Finish()
	if err != nil {
		return nil, err
	}
	dir := opts.Results
	if dir == "" {
		dir = defaultResultsDir(input.Path, opts.opName()+"-dryrun", time.Now())
	}
	p.Failed = t.failed()
	// A dry run leaves a folder behind only to hold rejected rows.
	if p.Failed > 0 {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("results folder: %w", err)
		}
		p.Results, p.ErrorsFile = dir, filepath.Join(dir, "errors.csv")
		if err := t.writeErrorsCSV(p.ErrorsFile, f.header); err != nil {
			return nil, err
		}
	}
	p.TicketReads = ed.reads()
	if opts.Rollback && ed == nil {
		p.RollbackReads = p.Updates + p.CommentedUpdates
	}
	if ed != nil {
		p.Changes = ed.changes
	}
	p.SetFact("creates", p.Creates)
	p.SetFact("updates", p.Updates)
	p.SetFact("commented_updates", p.CommentedUpdates)
	p.SetFact("replies", p.Replies)
	if f.cut {
		p.Note("--limit %d: the plan covers the first %d rows", opts.Limit, opts.Limit)
	}
	if n, ok := ops.(*newRowsOps); ok {
		n.note(&p.Report)
	}
	if p.ups != nil {
		p.ListRequests, p.Unchanged = int64(p.ups.index.Pages), p.ups.unchanged
		p.Changes = p.ups.changes
		p.ups.finish(&p.Report, nil)
	}
	return p, ed.finish(&p.Report)
}

// Print writes the plan for a reader: the round trip's changes, the writes
// by kind, the requests and about how long they take at the budget r
// (written spec by the user).
func (p *PlanReport) Print(w io.Writer, r udesk.Rate, spec string) {
	p.ed.printDiff(w)
	if p.ups != nil {
		p.ups.printPlan(w)
	}
	fmt.Fprintf(w, "dry run: %s read, %d would be sent, %d rejected", plural(p.Read, "row"), p.Writes(), p.Failed)
	if p.Failed > 0 {
		fmt.Fprintf(w, " (see %s)", p.ErrorsFile)
	}
	fmt.Fprintln(w)
	for _, c := range []struct {
		n         int64
		one, many string
	}{{p.Creates, "create", "creates (POST /api/v1/tickets.json)"}, {p.Updates, "update", "updates (PUT /api/v1/tickets/:id.json)"},
		{p.CommentedUpdates, "update with a comment", "updates with a comment (PUT /api/v1/tickets/:id.json)"},
		{p.Replies, "reply", "replies (POST /api/v1/tickets/reply.json)"}} {
		switch {
		case c.n == 1:
			_, endpoint, _ := strings.Cut(c.many, " (")
			fmt.Fprintf(w, "  1 %s (%s\n", c.one, endpoint)
		case c.n > 1:
			fmt.Fprintf(w, "  %d %s\n", c.n, c.many)
		}
	}
	p.printIrreversible(w)
	fmt.Fprintf(w, "API calls: %s", plural(p.Writes(), "write"))
	if p.TicketReads > 0 {
		fmt.Fprintf(w, " + %d ticket reads (--check-conflicts)", p.TicketReads)
	}
	if p.RollbackReads > 0 {
		fmt.Fprintf(w, " + %d ticket reads (--rollback: each ticket is read first to save what the update overwrites in rollback.csv)", p.RollbackReads)
	}
	if p.ListRequests > 0 {
		fmt.Fprintf(w, " + %d listing pages (the key index)", p.ListRequests)
	}
	fmt.Fprintln(w, " + 1 field catalog read (done)")
	if r.Unlimited() {
		fmt.Fprintf(w, "time: no request budget (%s): bounded by latency and --concurrency\n", spec)
		return
	}
	d := r.Duration(p.Writes() + p.TicketReads + p.RollbackReads + p.ListRequests)
	fmt.Fprintf(w, "time: %s at the budget of %s (plus retries; reads to settle unknown outcomes are extra)\n", pipeline.Approx(d), spec)
}

// printIrreversible lists what rollback.csv cannot undo.
func (p *PlanReport) printIrreversible(w io.Writer) {
	var parts []string
	if n := emptyBefore(p.Changes); n > 0 {
		parts = append(parts, fmt.Sprintf("%d fields that were empty (the API cannot clear a field)", n))
	}
	if p.CommentedUpdates > 0 {
		parts = append(parts, fmt.Sprintf("%d comments", p.CommentedUpdates))
	}
	if p.Replies > 0 {
		parts = append(parts, fmt.Sprintf("%d replies", p.Replies))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "cannot be undone (rollback.csv does not restore them): %s\n", strings.Join(parts, ", "))
	}
}
