package export

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/listing"
	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// outputStats is what the writers reported, the largest over the outputs.
type outputStats struct {
	raw, tooLong int64
	rawIn        string
	tooLongIn    string
	kept         []keptOutput // edited files kept beside their new outputs
}

// writeOutputs writes the spooled tickets, each once, into every output
// through one pipeline.Tee.
func writeOutputs(ctx context.Context, o *Options, x *listing.Reader, fields []udesk.Field, total int) (listing.RenderStats, outputStats, error) {
	out, err := openOutputs(o, fields)
	if err != nil {
		return listing.RenderStats{}, outputStats{}, err
	}
	prog := o.Observer.Phase("write", "tickets", int64(total))
	rs, err := x.Render(ctx, func(ts []udesk.Ticket) error {
		if err := out.write(ts); err != nil {
			return err
		}
		prog.Add(len(ts))
		return nil
	})
	prog.Finish()
	if err != nil {
		out.abort()
		return rs, outputStats{}, err
	}
	st, err := out.commit()
	return rs, st, err
}

// outputSet is an export's outputs, open for rows.
type outputSet struct {
	o     *Options
	exp   *mapping.Exporter
	all   pipeline.RowWriter
	stats []pipeline.StatsReporter
}

// openOutputs opens every output (with the original rows of a CSV beside
// it) as temporary files, to be committed or aborted.
func openOutputs(o *Options, fields []udesk.Field) (*outputSet, error) {
	selectValues := o.SelectValues
	if selectValues == "" {
		selectValues = mapping.SelectLabels
	}
	exp := mapping.NewExporter(mapping.NewCatalog(fields), mapping.ExportOptions{Headers: o.Headers, SelectValues: selectValues})
	schema := exp.Schema()
	meta := make(map[string]string, len(schema.Meta)+2)
	for k, v := range schema.Meta {
		meta[k] = v
	}
	meta["udesk.export.selector"] = o.Selector.String()
	meta["udesk.export.select_values"] = selectValues
	schema.Meta = meta

	outs := make([]pipeline.RowWriter, 0, len(o.Outputs))
	stats := make([]pipeline.StatsReporter, len(o.Outputs))
	for i, out := range o.Outputs {
		// A CSV output keeps its original rows beside it, for import
		// --update of the edited file. They are always escaped, so that
		// import reads them back exactly: when the output is too, it is
		// its own originals, its bytes written there as well.
		keep := !o.NoOriginals && out != "-" && strings.EqualFold(filepath.Ext(out), ".csv")
		copyTo := ""
		if keep && !o.NoFormulaEscape {
			var err error
			if copyTo, err = prepareCSVOriginals(out); err != nil {
				_ = pipeline.Tee(outs...).Abort()
				return nil, err
			}
		}
		w, err := openOutput(o, out, schema, copyTo)
		if err != nil {
			_ = pipeline.Tee(outs...).Abort()
			return nil, err
		}
		stats[i], _ = w.(pipeline.StatsReporter)
		switch {
		case !keep:
		case copyTo != "":
			w = &csvOriginals{RowWriter: w, out: out, catalog: schema.Meta[mapping.MetaCatalog]}
		default:
			orig, err := openCSVOriginals(out, schema, o.NoBOM)
			if err != nil {
				_ = w.Abort()
				_ = pipeline.Tee(outs...).Abort()
				return nil, err
			}
			w = pipeline.Tee(orig, w) // the originals first: an output never appears without them
		}
		outs = append(outs, named{w, out})
	}
	return &outputSet{o: o, exp: exp, all: pipeline.Tee(outs...), stats: stats}, nil
}

// write maps the tickets to rows and writes them to every output.
func (s *outputSet) write(ts []udesk.Ticket) error {
	rows := make([]pipeline.Row, len(ts))
	for i := range ts {
		rows[i] = s.exp.Row(&ts[i])
	}
	return s.all.WriteRows(rows)
}

// abort removes the outputs' temporary files.
func (s *outputSet) abort() { _ = s.all.Abort() }

// commit puts every output in place and returns what the writers counted.
func (s *outputSet) commit() (outputStats, error) {
	var st outputStats
	now := time.Now()
	for _, out := range s.o.Outputs {
		if !editedSinceExport(out) {
			continue
		}
		kept, err := keepEdited(out, now)
		if err != nil {
			s.abort()
			return st, err
		}
		st.kept = append(st.kept, keptOutput{out, kept})
	}
	if err := s.all.Commit(); err != nil {
		return st, err
	}
	if err := stampOutputs(s.o.Outputs); err != nil {
		return st, fmt.Errorf("recording what was written: %w", err)
	}
	for i, sr := range s.stats {
		if sr == nil {
			continue
		}
		ws := sr.Stats()
		if ws.RawValues > st.raw {
			st.raw, st.rawIn = ws.RawValues, s.o.Outputs[i]
		}
		if ws.TooLongCells > st.tooLong {
			st.tooLong, st.tooLongIn = ws.TooLongCells, s.o.Outputs[i]
		}
	}
	return st, nil
}

// openOutput opens one output; copyTo is where a CSV output's bytes are
// also written (sinks.CSVOptions.Copy).
func openOutput(o *Options, out string, schema pipeline.Schema, copyTo string) (pipeline.RowWriter, error) {
	if out == "-" {
		return sinks.NewJSONLStreamWriter(o.Stdout, schema)
	}
	removeStaleTemps(out)
	return sinks.NewWriter(out, schema, sinks.Options{
		CSV:  sinks.CSVOptions{NoBOM: o.NoBOM, NoFormulaEscape: o.NoFormulaEscape, Copy: copyTo},
		XLSX: sinks.XLSXOptions{Originals: !o.NoOriginals},
	})
}

// named says which output an error came from.
type named struct {
	pipeline.RowWriter
	out string
}

func (n named) WriteRows(rows []pipeline.Row) error {
	if err := n.RowWriter.WriteRows(rows); err != nil {
		return fmt.Errorf("writing %s: %w", n.out, err)
	}
	return nil
}

func (n named) Commit() error {
	if err := n.RowWriter.Commit(); err != nil {
		return fmt.Errorf("writing %s: %w", n.out, err)
	}
	return nil
}

// openCSVOriginals opens the writer of a CSV output's original rows, kept
// in sinks.CSVOriginalsPath (mode 0600) with the catalog snapshot beside
// them, so that import --update of the edited file sends only what changed.
func openCSVOriginals(out string, schema pipeline.Schema, noBOM bool) (pipeline.RowWriter, error) {
	path, err := prepareCSVOriginals(out)
	if err != nil {
		return nil, err
	}
	w, err := sinks.NewCSVWriter(path, schema, sinks.CSVOptions{NoBOM: noBOM, Private: true})
	if err != nil {
		return nil, err
	}
	return &csvOriginals{RowWriter: w, out: out, catalog: schema.Meta[mapping.MetaCatalog]}, nil
}

// prepareCSVOriginals makes the folder of a CSV output's original rows and
// clears what a killed run left there; it returns their path.
func prepareCSVOriginals(out string) (string, error) {
	path := sinks.CSVOriginalsPath(out)
	if err := pipeline.MakeStateDir(filepath.Dir(path)); err != nil {
		return "", fmt.Errorf("%s: the folder for its original rows: %w", out, err)
	}
	removeStaleTemps(path)
	removeStaleTemps(sinks.CSVCatalogPath(out))
	return path, nil
}

// csvOriginals writes the original rows (or the output that copies itself
// there) and, as they are committed, the catalog they were written with.
type csvOriginals struct {
	pipeline.RowWriter
	out     string
	catalog string
}

func (c *csvOriginals) Commit() error {
	if err := pipeline.WriteFileAtomic(sinks.CSVCatalogPath(c.out), []byte(c.catalog), 0o600); err != nil {
		return errors.Join(fmt.Errorf("the catalog beside the original rows: %w", err), c.RowWriter.Abort())
	}
	if err := c.RowWriter.Commit(); err != nil {
		return fmt.Errorf("the original rows: %w", err)
	}
	return nil
}

// removeStaleTemps removes the temp files a killed run left beside an
// output (the writers' ".<name>.tmp-*"); a finished file is never touched.
func removeStaleTemps(out string) {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "."+globEscape(filepath.Base(out))+".tmp-*"))
	for _, p := range stale {
		_ = os.Remove(p)
	}
}

var globMeta = regexp.MustCompile(`[*?[\\]`)

func globEscape(s string) string { return globMeta.ReplaceAllString(s, `\$0`) }

// fillReport fills in the counts and the notes a reader must see, and
// returns a *NotFoundError when some ids were not found.
func fillReport(rep *pipeline.Report, o *Options, x *listing.Reader, res *listing.Result, rs listing.RenderStats, st outputStats, acc *listing.Completeness) error {
	rep.Read = int64(rs.Read)
	rep.Written = int64(rs.Unique)
	rep.Failed = int64(len(res.Failed))
	rep.Skipped = int64(rs.Duplicates + rs.Reread)
	rep.SetFact("pages_fetched", int64(res.Fetched))
	rep.SetFact("pages_held", int64(res.Held))
	rep.SetFact("passes", int64(res.Passes))
	rep.SetFact("total_at_start", int64(res.StartTotal))
	rep.SetFact("total_at_end", int64(res.Total))
	rep.SetFact("duplicates_dropped", int64(rs.Duplicates))
	if res.Held > 0 {
		rep.Note("resumed: %d pages were already held, %d fetched now", res.Held, res.Fetched)
	}
	if rs.Duplicates > 0 {
		rep.Note("%d duplicate tickets dropped (pages shifted while they were read)", rs.Duplicates)
	}
	if res.Passes > 1 {
		rep.Note("the listing changed while it was read (total %d at the start, %d at the end): it was read %d times, %d repeated tickets dropped",
			res.StartTotal, res.Total, res.Passes, rs.Reread)
	}
	missing := x.Missing(res, acc, rs)
	if acc.Ran {
		// The ids were checked one by one: what is missing is known.
		rep.SetFact("looked_up", int64(acc.Lookups))
		rep.SetFact("found_by_id", int64(rs.LookedUp))
		rep.Note("the listing changed while it was read: %d ids it did not list were looked up one by one, %d tickets found and added", acc.Lookups, rs.LookedUp)
	}
	rep.SetFact("possibly_missing", int64(missing))
	switch {
	case acc.Ran:
	case missing > 0 && !res.Stable:
		rep.Note("up to %d tickets may be missing: the listing was still changing during the last read (tickets came, went or shifted pages); export again later for a complete copy", missing)
	case missing > 0:
		rep.Note("up to %d tickets may be missing: the API's total is %d but %d distinct tickets were listed", missing, res.Total, rs.LastPass)
	}
	if !o.NoOriginals {
		for _, out := range o.Outputs {
			switch strings.ToLower(filepath.Ext(out)) {
			case ".xlsx":
				rep.Note("%s is ready for editing: import --update -i %s sends only what changed", out, out)
			case ".csv":
				rep.Note("the original rows of %s are kept in %s: import --update -i %s sends only what changed", out, sinks.CSVOriginalsPath(out), out)
			}
		}
	}
	for _, k := range st.kept {
		rep.Note("%s was edited since it was exported: the edited file is kept as %s (import --update -i %s sends its edits), and %s holds the new export", k.out, k.kept, k.kept, k.out)
	}
	if st.raw > 0 {
		rep.Note("%d values did not fit their column's type and were kept as raw text (e.g. in %s)", st.raw, st.rawIn)
	}
	if st.tooLong > 0 {
		rep.Note("%d cells are longer than the format allows and are flagged (e.g. in %s)", st.tooLong, st.tooLongIn)
	}
	for i, f := range res.Failed {
		if i == 10 {
			rep.Note("... and %d more ids not found", len(res.Failed)-10)
			break
		}
		rep.Note("ticket %d not found: %s", f.ID, f.Error)
	}
	if len(acc.Unaccounted) > 0 {
		return &IncompleteError{Of: o.Selector.String(), IDs: acc.Unaccounted}
	}
	if len(res.Failed) == 0 {
		return nil
	}
	nf := &NotFoundError{Of: len(o.Selector.IDs)}
	for _, f := range res.Failed {
		nf.IDs = append(nf.IDs, f.ID)
	}
	return nf
}
