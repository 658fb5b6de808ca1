package sinks

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// CSVOptions tunes the CSV writer.
type CSVOptions struct {
	// NoBOM leaves out the UTF-8 byte order mark that is written by default
	// so that Excel reads the file as UTF-8.
	NoBOM bool
	// NoFormulaEscape writes text as it is, without the ' put before text
	// that a spreadsheet would run as a formula: for files meant for
	// analysis (DuckDB, pandas, polars), never to be opened in a
	// spreadsheet. An import of such a file takes a value that starts with
	// ' followed by = + - @ as escaped.
	NoFormulaEscape bool
	// Private writes the file with mode 0600 (a copy kept in a state folder)
	// instead of 0666 narrowed by the umask.
	Private bool
	// Copy, when set, is where Commit first puts a private (0600) copy of
	// the file, byte for byte, before the file itself: an export's original
	// rows, the same bytes written to two files instead of rendered twice.
	Copy string
}

// csvWriter writes RFC 4180 CSV: records end with CRLF, a field is quoted
// when it holds a comma, a quote, CR or LF, and quoted fields are written
// verbatim (so "\r\n" inside a text stays "\r\n" and a lone "\n" stays "\n").
// encoding/csv's writer is not used because with UseCRLF it rewrites "\n" in
// a field to "\r\n" and drops a lone "\r".
type csvWriter struct {
	path   string
	schema pipeline.Schema
	escape func(string) string // mapping.EscapeFormula, or none
	tmp    *tempFile
	line   []byte
	stats  pipeline.WriterStats
	state  writerState
}

// NewCSVWriter writes a header row of Column.Name and then one record per row
// to path. Text cells (String, TimeOfDay, lists, raw values and the header)
// that a spreadsheet would run as a formula get a leading quote, unless
// opts.NoFormulaEscape; numbers and dates never start with one. Timestamps are written as
// RFC 3339 (mapping.TimestampLayout), dates as "2006-01-02", floats in their
// shortest exact decimal form, lists joined with ",".
func NewCSVWriter(path string, schema pipeline.Schema, opts CSVOptions) (pipeline.RowWriter, error) {
	if err := checkSchema(path, schema); err != nil {
		return nil, err
	}
	create := createTemp
	if opts.Copy != "" {
		create = func(path string) (*tempFile, error) { return createTempWithCopy(path, opts.Copy) }
	}
	tmp, err := create(path)
	if err != nil {
		return nil, err
	}
	if opts.Private {
		if err := tmp.f.Chmod(0o600); err != nil {
			_ = tmp.abort()
			return nil, fmt.Errorf("sinks: %s: %w", path, err)
		}
	}
	w := &csvWriter{path: path, schema: schema, tmp: tmp, escape: mapping.EscapeFormula}
	if opts.NoFormulaEscape {
		w.escape = func(s string) string { return s }
	}
	if !opts.NoBOM {
		w.line = append(w.line, "\uFEFF"...)
	}
	for i, c := range schema.Columns {
		if i > 0 {
			w.line = append(w.line, ',')
		}
		w.line = appendCSVField(w.line, w.escape(c.Name))
	}
	w.line = append(w.line, '\r', '\n')
	if _, err := tmp.w.Write(w.line); err != nil {
		_ = tmp.abort()
		return nil, fmt.Errorf("sinks: %s: %w", path, err)
	}
	return w, nil
}

func (w *csvWriter) WriteRows(rows []pipeline.Row) error {
	if err := w.state.check(w.path); err != nil {
		return err
	}
	for _, r := range rows {
		n := w.stats.Rows + 1
		if err := checkRow(w.path, n, w.schema, r); err != nil {
			return err
		}
		w.line = w.line[:0]
		for i, v := range r.Values {
			if i > 0 {
				w.line = append(w.line, ',')
			}
			if raw, ok := r.Raw[i]; ok {
				w.stats.RawValues++
				w.line = appendCSVField(w.line, w.escape(raw))
				continue
			}
			w.line = w.appendValue(w.line, w.schema.Columns[i].Kind, v)
		}
		w.line = append(w.line, '\r', '\n')
		if _, err := w.tmp.w.Write(w.line); err != nil {
			return fmt.Errorf("sinks: %s: row %d: %w", w.path, n, err)
		}
		w.stats.Rows++
	}
	return nil
}

func (w *csvWriter) appendValue(b []byte, k pipeline.Kind, v any) []byte {
	switch v := v.(type) {
	case nil:
		return b
	case string:
		return appendCSVField(b, w.escape(v))
	case int64:
		return strconv.AppendInt(b, v, 10)
	case float64:
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	case time.Time:
		if k == pipeline.Date {
			return v.AppendFormat(b, mapping.DateLayout)
		}
		return v.AppendFormat(b, mapping.TimestampLayout)
	case []string:
		return appendCSVField(b, w.escape(strings.Join(v, ",")))
	}
	panic(fmt.Sprintf("sinks: unchecked value type %T", v)) // checkRow rejects every other type
}

// appendCSVField appends s, quoted when RFC 4180 requires it.
func appendCSVField(b []byte, s string) []byte {
	if !needsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '"')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}

// needsQuotes reports whether s holds a comma, a quote, CR or LF: four
// vectorised byte searches, several times faster on long text than
// strings.ContainsAny's byte-by-byte loop.
func needsQuotes(s string) bool {
	return strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, ',') >= 0 ||
		strings.IndexByte(s, '"') >= 0 || strings.IndexByte(s, '\r') >= 0
}

func (w *csvWriter) Commit() error {
	if err := w.state.check(w.path); err != nil {
		return err
	}
	w.state = stateCommitted
	return w.tmp.commit()
}

func (w *csvWriter) Abort() error {
	if w.state != stateOpen {
		return nil
	}
	w.state = stateAborted
	return w.tmp.abort()
}

func (w *csvWriter) Stats() pipeline.WriterStats { return w.stats }
