package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sources"
)

// Input names the file a job reads and how its columns are read.
type Input struct {
	Path         string // .csv, .xlsx, .jsonl or .parquet
	Sheet        string // XLSX: the sheet to read (default: the first)
	Encoding     string // CSV: utf-8, gbk or gb18030 (default: detected)
	MappingFile  string // a column mapping file (YAML or JSON), "" for none
	SelectValues string // select fields are written as labels or indexes ("" either)
}

// Column names errors.csv adds to the input's own.
const (
	colErrorCode    = "error_code"
	colErrorMessage = "error_message"
)

// inputFile is an opened input: its reader, its header without the columns
// a previous errors.csv added, and where those were.
type inputFile struct {
	path    string
	r       pipeline.RecordReader
	header  []string // the file's own columns, as errors.csv repeats them
	keep    []int    // indexes of the file's own columns in each record
	dropped bool     // the file had error_code/error_message columns

	limit int  // return io.EOF after this many records (0: no limit)
	n     int  // records returned
	cut   bool // the limit left records unread

	// The first record, read at open to refuse a file without data rows
	// before any state is kept; next returns it first.
	first    pipeline.Record
	firstErr error
	peeked   bool
}

// openInput loads the mapping file, if any, then opens the input. Every
// error is a *pipeline.ConfigError.
func openInput(in Input) (*inputFile, *mapping.MappingFile, error) {
	var mf *mapping.MappingFile
	if in.MappingFile != "" {
		var err error
		if mf, err = mapping.LoadMappingFile(in.MappingFile); err != nil {
			return nil, nil, &pipeline.ConfigError{Err: err}
		}
	}
	r, err := sources.Open(in.Path, sources.OpenOptions{Sheet: in.Sheet, Encoding: in.Encoding})
	if err != nil {
		return nil, nil, &pipeline.ConfigError{Err: err}
	}
	// An exported workbook over Excel's row limit holds its rows in several
	// sheets; reading only the first would leave the others out unsaid.
	if m, ok := r.(sources.MetaReader); ok && in.Sheet == "" {
		if sheets := strings.Split(m.Meta()["data_sheets"], ","); len(sheets) > 1 {
			r.Close()
			return nil, nil, pipeline.Configf("%s holds its rows in %d sheets (%s): import each with --sheet NAME", in.Path, len(sheets), strings.Join(sheets, ", "))
		}
	}
	f := &inputFile{path: in.Path, r: r}
	for i, h := range r.Header() {
		if k := strings.ToLower(strings.TrimSpace(h)); k == colErrorCode || k == colErrorMessage {
			f.dropped = true
			continue
		}
		f.header = append(f.header, h)
		f.keep = append(f.keep, i)
	}
	f.first, f.firstErr = r.Next(context.Background())
	if errors.Is(f.firstErr, io.EOF) {
		r.Close()
		return nil, nil, pipeline.Configf("%s: no data rows (only a header)", in.Path)
	}
	f.peeked = true
	return f, mf, nil
}

// noteReader puts in r what the reader said about how it read the file
// (sources.NoteReader, e.g. a pandas index column it ignored), so the
// summary shows it.
func (f *inputFile) noteReader(r *pipeline.Report) {
	if nr, ok := f.r.(sources.NoteReader); ok {
		for _, n := range nr.Notes() {
			r.Note("%s", n)
		}
	}
}

// cells returns a record's cells without the columns a previous errors.csv
// added, so that a fixed errors.csv imports like the original file.
func (f *inputFile) cells(c []string) []string {
	if !f.dropped {
		return c
	}
	out := make([]string, 0, len(f.keep))
	for _, i := range f.keep {
		if i < len(c) {
			out = append(out, c[i])
		} else {
			out = append(out, "")
		}
	}
	return out
}

// next returns the next record with the file's own cells, io.EOF at the end.
func (f *inputFile) next(ctx context.Context) (pipeline.Record, error) {
	if f.limit > 0 && f.n >= f.limit {
		if !f.cut {
			_, err := f.r.Next(ctx)
			f.cut = !errors.Is(err, io.EOF)
		}
		return pipeline.Record{}, io.EOF
	}
	f.n++
	var rec pipeline.Record
	var err error
	if f.peeked {
		rec, err, f.peeked = f.first, f.firstErr, false
		f.first = pipeline.Record{}
	} else {
		rec, err = f.r.Next(ctx)
	}
	rec.Cells = f.cells(rec.Cells)
	return rec, err
}

func (f *inputFile) Close() error { return f.r.Close() }

// newImporter checks the input's columns against the catalog and the
// mapping; an error names the input and every column at fault.
func newImporter(cat *mapping.Catalog, f *inputFile, op mapping.OpKind, in Input, mf *mapping.MappingFile) (*mapping.Importer, error) {
	im, err := mapping.NewImporter(cat, f.header, mapping.ImportOptions{Op: op, SelectValues: in.SelectValues, Mapping: mf})
	if err != nil {
		return nil, &pipeline.ConfigError{Err: fmt.Errorf("%s: %w", f.path, err)}
	}
	return im, nil
}

// rowOps builds each input row's operation.
type rowOps interface {
	Operation(ctx context.Context, rec pipeline.Record) (mapping.Operation, error)
}

// importerOps sends every filled cell.
type importerOps struct{ im *mapping.Importer }

func (i importerOps) Operation(_ context.Context, rec pipeline.Record) (mapping.Operation, error) {
	return i.im.Operation(rec)
}

// errStop ends the read loop without an error of its own: the one who
// returns it reports why.
var errStop = errors.New("stop reading")

// rowSteps is what a job does with the rows the read loop hands on.
type rowSteps struct {
	// settled, when set, is asked before a row is mapped: true when the row
	// needs no operation (an earlier run settled it).
	settled func(rec pipeline.Record) bool
	// emit receives each row's operation; an error (errStop to say nothing
	// more) ends the loop.
	emit func(rec pipeline.Record, op mapping.Operation) error
}

// mapRows is the one read → map → hand-on loop of every job: it reads each
// record of f (without a previous errors.csv's columns), maps it with ops
// and hands the operation to steps.emit. Unreadable and rejected rows go to
// t with their code; unchanged rows of a round trip only count. It returns
// the number of rows read and the error that stopped it.
func mapRows(ctx context.Context, f *inputFile, ops rowOps, t *tally, steps rowSteps) (read int64, err error) {
	for {
		if err := ctx.Err(); err != nil {
			return read, err
		}
		rec, err := f.next(ctx)
		if errors.Is(err, io.EOF) {
			return read, nil
		}
		var re *pipeline.RowError
		if errors.As(err, &re) {
			read++
			code := CodeUnreadableRow
			var ragged *sources.RaggedRowError
			if errors.As(err, &ragged) {
				code = CodeRaggedRow
			}
			t.fail(rec.Pos.Row, rec.Cells, code, rowErrorMessage(rec.Pos, err))
			continue
		}
		if err != nil {
			return read, err
		}
		read++
		if steps.settled != nil && steps.settled(rec) {
			continue
		}
		op, err := ops.Operation(ctx, rec)
		if errors.Is(err, mapping.ErrUnchanged) {
			t.unchanged(rec.Pos.Row, op.ID, rec.Cells)
			continue
		}
		if err != nil {
			t.fail(rec.Pos.Row, rec.Cells, rowErrorCode(err), rowErrorMessage(rec.Pos, err))
			continue
		}
		if err := steps.emit(rec, op); errors.Is(err, errStop) {
			return read, nil
		} else if err != nil {
			return read, err
		}
	}
}

// rowErrorCode is errors.csv's error_code for a row rejected before it is
// sent.
func rowErrorCode(err error) string {
	var ee *mapping.EditError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return CodeInvalid
}

// rowErrorMessage turns the mapping's joined row errors into one line that
// names the row and each column at fault.
func rowErrorMessage(pos pipeline.Position, err error) string {
	var parts []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var re *pipeline.RowError
		if errors.As(e, &re) {
			if re.Column != "" {
				parts = append(parts, fmt.Sprintf("column %q: %v", re.Column, re.Err))
			} else {
				parts = append(parts, re.Err.Error())
			}
			return
		}
		parts = append(parts, e.Error())
	}
	walk(err)
	return fmt.Sprintf("row %d: %s", pos.Row, strings.Join(parts, "; "))
}

// countRows sets prog's total to the input's data rows, counted by a second
// reader in the background (no format states its row count cheaply), so that
// the progress shows a percentage and an ETA once the count is in. stop ends
// the count and waits for it.
//
// With limit above 0 (--limit) the count stops there: a pilot's progress is
// of the rows it handles. Rows free says need no write (a round trip's
// unchanged rows, which the progress then does not count either) are left
// out: their cost is nil, and an ETA that counted them at the write rate
// would be many times too long when the edited rows come first.
func countRows(ctx context.Context, in Input, prog pipeline.Progress, limit int, free func(pipeline.Record) bool) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r, err := sources.Open(in.Path, sources.OpenOptions{Sheet: in.Sheet, Encoding: in.Encoding})
		if err != nil {
			return
		}
		defer r.Close()
		var seen, n int64
		for {
			rec, err := r.Next(ctx)
			var re *pipeline.RowError
			switch {
			case errors.Is(err, io.EOF):
				prog.SetTotal(n)
				return
			case err == nil, errors.As(err, &re):
				seen++
				if err != nil || free == nil || !free(rec) {
					n++ // an unreadable row is a row of the progress too
				}
				if limit > 0 && seen == int64(limit) {
					prog.SetTotal(n)
					return
				}
			default:
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}
