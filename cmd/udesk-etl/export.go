package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
	"github.com/udesk-etl/udesk-etl/sources"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// exportOptions are the export command's flags, parsed and checked.
type exportOptions struct {
	conn         connOptions
	outputs      stringList
	filter       int64
	agent        int64
	customer     string
	ids          string
	headers      string
	selectValues string
	bom          bool
	fresh        bool
	report       string
	originals    bool

	selector sources.Selector
	idDups   int // ids given more than once
}

const exportSynopsis = "[--filter ID [--agent ID] | --customer EMAIL | --ids LIST|@FILE] -o FILE [-o FILE ...]"

func runExportCommand(ctx context.Context, a *app, args []string) error {
	var o exportOptions
	fs := newFlagSet(a, "export", exportSynopsis)
	o.conn.register(fs)
	fs.Var(&o.outputs, "o", "write to `FILE`: .parquet, .xlsx, .csv or .jsonl by extension; - writes JSON lines to stdout (repeatable: several formats in one pass)")
	fs.Int64Var(&o.filter, "filter", 0, "export the tickets of the ticket filter with this `ID` (see udesk-etl filters)")
	fs.Int64Var(&o.agent, "agent", 0, "with --filter: read the filter as the agent with this `ID`")
	fs.StringVar(&o.customer, "customer", "", "export the tickets of the customer with this `EMAIL`")
	fs.StringVar(&o.ids, "ids", "", "export these tickets: `LIST` of ids (1,2,3) or @FILE with ids separated by commas, spaces or lines")
	fs.StringVar(&o.headers, "headers", mapping.HeadersLabels, "custom field column headers: labels (field_label) or names (field_name)")
	fs.StringVar(&o.selectValues, "select-values", mapping.SelectLabels, "select field values: labels or indexes")
	fs.BoolVar(&o.bom, "bom", true, "start CSV files with a UTF-8 byte order mark (so Excel reads them as UTF-8)")
	fs.BoolVar(&o.fresh, "fresh", false, "discard the saved state of an interrupted run and start over")
	fs.StringVar(&o.report, "report", "", "also write the summary as JSON to `FILE`")
	fs.BoolVar(&o.originals, "originals", true, "keep the rows as written (a hidden sheet in .xlsx, a copy in .udesk-etl beside a .csv) so that import --update of the edited file sends only what changed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	c, err := o.conn.client(a)
	if err != nil {
		return err
	}
	return runExport(ctx, a, c, &o)
}

// outputExts are the formats export writes, by file extension.
var outputExts = map[string]bool{".parquet": true, ".xlsx": true, ".csv": true, ".jsonl": true, ".ndjson": true}

// check validates the flags before any request is made, and builds the
// selector.
func (o *exportOptions) check() error {
	if len(o.outputs) == 0 {
		return usagef("no output: pass -o FILE (.parquet, .xlsx, .csv or .jsonl; - for JSON lines on stdout)")
	}
	seen := map[string]bool{}
	for _, out := range o.outputs {
		key := pipeline.AbsPath(out)
		if seen[key] {
			return usagef("-o %s is given twice", out)
		}
		seen[key] = true
		if out == "-" {
			continue
		}
		if ext := strings.ToLower(filepath.Ext(out)); !outputExts[ext] {
			return usagef("-o %s: unknown format %q (want .parquet, .xlsx, .csv or .jsonl, or - for JSON lines on stdout)", out, ext)
		}
		if fi, err := os.Stat(filepath.Dir(out)); err != nil || !fi.IsDir() {
			return usagef("-o %s: the folder %s does not exist", out, filepath.Dir(out))
		}
	}
	switch o.headers {
	case mapping.HeadersLabels, mapping.HeadersNames:
	default:
		return usagef("--headers %q: want labels or names", o.headers)
	}
	switch o.selectValues {
	case mapping.SelectLabels, mapping.SelectIndexes:
	default:
		return usagef("--select-values %q: want labels or indexes", o.selectValues)
	}
	n := 0
	for _, set := range []bool{o.filter != 0, o.customer != "", o.ids != ""} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return usagef("--filter, --customer and --ids select tickets in different ways: pass one of them")
	case o.agent != 0 && o.filter == 0:
		return usagef("--agent needs --filter (it names the agent whose view of the filter is read)")
	case o.filter < 0 || o.agent < 0:
		return usagef("--filter and --agent take positive ids")
	case o.filter != 0:
		o.selector.Listing = udesk.Listing{FilterID: o.filter, AgentID: o.agent}
	case o.customer != "":
		if !strings.Contains(o.customer, "@") {
			return usagef("--customer %q: want the customer's email address", o.customer)
		}
		o.selector.Listing = udesk.Listing{CustomerEmail: o.customer}
	case o.ids != "":
		ids, dups, err := parseIDs(o.ids)
		if err != nil {
			return err
		}
		o.selector.IDs, o.idDups = ids, dups
	}
	return nil
}

var idSeparators = regexp.MustCompile(`[\s,;]+`)

// parseIDs reads --ids: a list "1,2,3" or "@FILE" holding ids separated by
// commas, semicolons, spaces or lines (a first token "id" is taken as a
// header). Repeated ids are kept once, in first-seen order.
func parseIDs(spec string) (ids []int64, dups int, err error) {
	text, where := spec, "--ids"
	if name, ok := strings.CutPrefix(spec, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, 0, usagef("--ids @%s: %v", name, err)
		}
		text, where = string(b), "--ids @"+name
	}
	seen := map[int64]bool{}
	for line, l := range strings.Split(strings.TrimPrefix(text, "\uFEFF"), "\n") {
		for _, tok := range idSeparators.Split(strings.TrimSpace(l), -1) {
			if tok == "" || (len(seen) == 0 && dups == 0 && strings.EqualFold(tok, "id")) {
				continue
			}
			id, err := strconv.ParseInt(tok, 10, 64)
			if err != nil || id <= 0 {
				if where == "--ids" {
					return nil, 0, usagef("--ids: %q is not a ticket id", tok)
				}
				return nil, 0, usagef("%s line %d: %q is not a ticket id", where, line+1, tok)
			}
			if seen[id] {
				dups++
				continue
			}
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, 0, usagef("%s holds no ticket id", where)
	}
	return ids, dups, nil
}

// exportManifest describes a snapshot in its state folder (never the secret).
type exportManifest struct {
	Version     int        `json:"version"`
	URL         string     `json:"url"`
	Selector    string     `json:"selector"`
	PerPage     int        `json:"per_page"`
	StartedAt   time.Time  `json:"started_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	Outputs     []string   `json:"outputs,omitempty"`
	Passes      int        `json:"passes,omitempty"`
	StartTotal  int        `json:"total_at_start,omitempty"`
	EndTotal    int        `json:"total_at_end,omitempty"`
	Tickets     int        `json:"tickets_written,omitempty"`
}

const (
	manifestFile = "manifest.json"
	catalogFile  = "catalog.json"
	exportPage   = 100 // the API's largest page
)

// tenantURL is the URL the client uses, for the state key and the manifest,
// with any password masked.
func (o *exportOptions) tenantURL(a *app) string {
	u := o.conn.url
	if u == "" {
		u = a.getenv("UDESK_URL")
	}
	u = strings.TrimRight(u, "/")
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return u
}

func runExport(ctx context.Context, a *app, c *udesk.Client, o *exportOptions) (err error) {
	start := time.Now()
	tenant := o.tenantURL(a)
	// The state goes beside the first output file (the working folder when
	// the only output is stdout).
	beside := o.outputs[0]
	for _, out := range o.outputs {
		if out != "-" {
			beside = out
			break
		}
	}
	dir := pipeline.StateDir(beside, "export", tenant, o.selector.String())
	if err := pipeline.MakeStateDir(filepath.Dir(dir)); err != nil {
		return fmt.Errorf("state folder: %w", err)
	}
	spool, resumed, err := pipeline.OpenSpool(dir, o.fresh)
	if err != nil {
		return fmt.Errorf("state folder: %w", err)
	}
	defer spool.Close()
	held, err := spool.Pages()
	if err != nil {
		return fmt.Errorf("state folder %s: %w", dir, err)
	}
	if resumed {
		fmt.Fprintf(a.stderr, "export: state folder %s (resuming: %d pages held)\n", spool.Dir(), len(held))
	} else {
		fmt.Fprintf(a.stderr, "export: state folder %s (new snapshot)\n", spool.Dir())
	}
	sum := &summary{Command: "export", Report: pipeline.Report{State: spool.Dir(), Outputs: o.outputs}}
	defer func() {
		sum.finish(c, start)
		var ue *udesk.Error
		if err != nil && !errors.Is(err, context.Canceled) && !errors.As(err, new(rejectedError)) &&
			!(errors.As(err, &ue) && ue.Class == udesk.Permanent) { // the API refused: a rerun would too
			err = fmt.Errorf("%w (run the same command again to resume from %s)", err, spool.Dir())
		}
		if err == nil || errors.As(err, new(rejectedError)) {
			sum.print(a.stderr)
		}
		if rerr := sum.writeReport(o.report); rerr != nil && err == nil {
			err = fmt.Errorf("--report: %w", rerr)
		}
	}()

	man, err := loadOrStartManifest(spool, tenant, o.selector.String())
	if err != nil {
		return err
	}

	// The catalog is read once per snapshot, while page 1 is in flight: page
	// 1 first, as the other pages wait for its total_pages.
	var fields []udesk.Field
	catErr := make(chan error, 1)
	startCatalog := sync.OnceFunc(func() {
		go func() {
			var err error
			fields, err = loadOrFetchCatalog(ctx, c, spool)
			catErr <- err
		}()
	})
	if o.selector.IDs != nil {
		startCatalog()
	}

	prog := newProgress(a, o.conn.quiet, "export", "tickets", 0)
	var total int
	x := &sources.APIExport{
		Spool: spool, Selector: o.selector, Pages: &beforePage{c, startCatalog}, Tickets: c,
		PerPage: exportPage, Workers: o.conn.concurrency,
		OnTotal:   func(n int) { total += n; prog.SetTotal(int64(total)) },
		OnTickets: prog.Add,
	}
	res, err := x.Fetch(ctx)
	prog.Finish()
	startCatalog() // when every page was held
	if cerr := <-catErr; err == nil && cerr != nil {
		err = fmt.Errorf("reading the field catalog: %w", cerr)
	}
	if err != nil {
		return err
	}

	rs, stats, err := renderOutputs(ctx, a, o, x, fields)
	if err != nil {
		return err
	}

	now := time.Now().UTC()
	man.CompletedAt, man.Outputs = &now, o.outputs
	man.Passes, man.StartTotal, man.EndTotal, man.Tickets = res.Passes, res.StartTotal, res.Total, rs.Unique
	if err := writeManifest(spool, man); err != nil {
		return err
	}
	if err := spool.Complete(); err != nil {
		return fmt.Errorf("marking %s complete: %w", spool.Dir(), err)
	}
	return exportSummary(sum, o, res, rs, stats)
}

// beforePage calls start as each page request is made (start is a
// sync.OnceFunc that starts the catalog request in the background).
type beforePage struct {
	sources.PageReader
	start func()
}

func (b *beforePage) Page(ctx context.Context, l udesk.Listing, page, perPage int) (*udesk.Page, error) {
	b.start()
	return b.PageReader.Page(ctx, l, page, perPage)
}

func loadOrStartManifest(spool *pipeline.Spool, tenant, selector string) (*exportManifest, error) {
	b, err := spool.ReadFile(manifestFile)
	if err == nil {
		var m exportManifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %w (pass --fresh to start over)", filepath.Join(spool.Dir(), manifestFile), err)
		}
		if m.URL != tenant || m.Selector != selector || m.PerPage != exportPage {
			return nil, fmt.Errorf("%s belongs to another export (%s of %s); pass --fresh to start over",
				spool.Dir(), m.Selector, m.URL)
		}
		return &m, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	m := &exportManifest{Version: 1, URL: tenant, Selector: selector, PerPage: exportPage, StartedAt: time.Now().UTC()}
	return m, writeManifest(spool, m)
}

func writeManifest(spool *pipeline.Spool, m *exportManifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return spool.WriteFile(manifestFile, append(b, '\n'))
}

// loadOrFetchCatalog returns the snapshot's field catalog, reading it from
// the API (and saving it) only the first time.
func loadOrFetchCatalog(ctx context.Context, c *udesk.Client, spool *pipeline.Spool) ([]udesk.Field, error) {
	b, err := spool.ReadFile(catalogFile)
	if err == nil {
		fields, err := udesk.ReadFields(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(spool.Dir(), catalogFile), err)
		}
		return fields, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	fields, err := c.Fields(ctx)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := udesk.WriteFields(&buf, fields); err != nil {
		return nil, err
	}
	return fields, spool.WriteFile(catalogFile, buf.Bytes())
}

// outputStats is what the writers reported, the largest over the outputs.
type outputStats struct {
	raw, tooLong int64
	rawIn        string
	tooLongIn    string
}

// renderOutputs writes the spooled tickets, each once, into every output:
// one goroutine per output, all fed the same rows.
func renderOutputs(ctx context.Context, a *app, o *exportOptions, x *sources.APIExport, fields []udesk.Field) (sources.RenderStats, outputStats, error) {
	var st outputStats
	exp := mapping.NewExporter(mapping.NewCatalog(fields), mapping.ExportOptions{Headers: o.headers, SelectValues: o.selectValues})
	schema := exp.Schema()
	meta := make(map[string]string, len(schema.Meta)+2)
	for k, v := range schema.Meta {
		meta[k] = v
	}
	meta["udesk.export.selector"] = o.selector.String()
	meta["udesk.export.select_values"] = o.selectValues
	schema.Meta = meta

	writers := make([]pipeline.RowWriter, 0, len(o.outputs))
	abort := func() {
		for _, w := range writers {
			_ = w.Abort()
		}
	}
	for _, out := range o.outputs {
		removeStaleTemps(out)
		var w pipeline.RowWriter
		var err error
		if out == "-" {
			w, err = sinks.NewJSONLStreamWriter(a.stdout, schema)
		} else {
			w, err = sinks.NewWriter(out, schema, sinks.Options{CSV: sinks.CSVOptions{NoBOM: !o.bom}, XLSX: sinks.XLSXOptions{Originals: o.originals}})
			if err == nil {
				w, err = withOriginals(out, w, schema, o.originals, o.bom)
			}
		}
		if err != nil {
			abort()
			return sources.RenderStats{}, st, err
		}
		writers = append(writers, w)
	}

	feeds := make([]chan []pipeline.Row, len(writers))
	errs := make([]error, len(writers))
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, w := range writers {
		feeds[i] = make(chan []pipeline.Row, 2)
		wg.Go(func() {
			for rows := range feeds[i] {
				if errs[i] == nil {
					if errs[i] = w.WriteRows(rows); errs[i] != nil {
						cancel()
					}
				}
			}
		})
	}
	prog := newProgress(a, o.conn.quiet, "write", "tickets", 0)
	rs, err := x.Render(ctx, func(ts []udesk.Ticket) error {
		rows := make([]pipeline.Row, len(ts))
		for i := range ts {
			rows[i] = exp.Row(&ts[i])
		}
		for _, f := range feeds {
			select {
			case f <- rows:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		prog.Add(len(rows))
		return nil
	})
	for _, f := range feeds {
		close(f)
	}
	wg.Wait()
	prog.Finish()
	for i, werr := range errs {
		if werr != nil {
			err = fmt.Errorf("writing %s: %w", o.outputs[i], werr)
			break
		}
	}
	if err != nil {
		abort()
		return rs, st, err
	}
	for i, w := range writers {
		if err := w.Commit(); err != nil {
			for _, rest := range writers[i+1:] {
				_ = rest.Abort()
			}
			return rs, st, fmt.Errorf("writing %s: %w", o.outputs[i], err)
		}
		if sr, ok := w.(pipeline.StatsReporter); ok {
			ws := sr.Stats()
			if ws.RawValues > st.raw {
				st.raw, st.rawIn = ws.RawValues, o.outputs[i]
			}
			if ws.TooLongCells > st.tooLong {
				st.tooLong, st.tooLongIn = ws.TooLongCells, o.outputs[i]
			}
		}
	}
	return rs, st, nil
}

// removeStaleTemps removes the temp files a killed run left beside an
// output (the writers' ".<name>.tmp-*"); a finished file is never touched.
func removeStaleTemps(out string) {
	if out == "-" {
		return
	}
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "."+globEscape(filepath.Base(out))+".tmp-*"))
	for _, p := range stale {
		_ = os.Remove(p)
	}
}

var globMeta = regexp.MustCompile(`[*?[\\]`)

func globEscape(s string) string { return globMeta.ReplaceAllString(s, `\$0`) }

// exportSummary fills in the counts and the notes a reader must see, and
// returns a rejectedError when some ids were not found.
func exportSummary(sum *summary, o *exportOptions, res *sources.FetchResult, rs sources.RenderStats, st outputStats) error {
	sum.Read = int64(rs.Read)
	sum.Written = int64(rs.Unique)
	sum.Failed = int64(len(res.Failed))
	sum.Skipped = int64(rs.Duplicates + rs.Reread)
	sum.SetFact("pages_fetched", int64(res.Fetched))
	sum.SetFact("pages_held", int64(res.Held))
	sum.SetFact("passes", int64(res.Passes))
	sum.SetFact("total_at_start", int64(res.StartTotal))
	sum.SetFact("total_at_end", int64(res.Total))
	sum.SetFact("duplicates_dropped", int64(rs.Duplicates))
	if res.Held > 0 {
		sum.Note("resumed: %d pages were already held, %d fetched now", res.Held, res.Fetched)
	}
	if o.idDups > 0 {
		sum.Note("%d repeated ids in --ids were exported once", o.idDups)
	}
	if rs.Duplicates > 0 {
		sum.Note("%d duplicate tickets dropped (pages shifted while they were read)", rs.Duplicates)
	}
	if res.Passes > 1 {
		sum.Note("the listing changed while it was read (total %d at the start, %d at the end): it was read %d times, %d repeated tickets dropped",
			res.StartTotal, res.Total, res.Passes, rs.Reread)
	}
	var missing int
	if o.selector.IDs == nil {
		missing = max(0, res.Total-rs.LastPass)
		if !res.Stable {
			missing = max(missing, res.Spread)
		}
	}
	sum.SetFact("possibly_missing", int64(missing))
	switch {
	case missing > 0 && !res.Stable:
		sum.Note("up to %d tickets may be missing: the listing was still changing during the last read (tickets came, went or shifted pages); export again later for a complete copy", missing)
	case missing > 0:
		sum.Note("up to %d tickets may be missing: the API's total is %d but %d distinct tickets were listed", missing, res.Total, rs.LastPass)
	}
	originalsNotes(sum, o.outputs, o.originals)
	if st.raw > 0 {
		sum.Note("%d values did not fit their column's type and were kept as raw text (e.g. in %s)", st.raw, st.rawIn)
	}
	if st.tooLong > 0 {
		sum.Note("%d cells are longer than the format allows and are flagged (e.g. in %s)", st.tooLong, st.tooLongIn)
	}
	for i, f := range res.Failed {
		if i == 10 {
			sum.Note("... and %d more ids not found", len(res.Failed)-10)
			break
		}
		sum.Note("ticket %d not found: %s", f.ID, f.Error)
	}
	if len(res.Failed) > 0 {
		return rejectedError{rows: int64(len(res.Failed)),
			msg: fmt.Sprintf("%d of the %d ids were not found (listed in the summary); the others were exported", len(res.Failed), len(o.selector.IDs))}
	}
	return nil
}
