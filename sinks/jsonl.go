package sinks

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// jsonlWriter writes one JSON object per row, keys in schema order.
type jsonlWriter struct {
	path   string // for messages; "-" for standard output
	schema pipeline.Schema
	keys   [][]byte      // `"name":` per column, with the separating comma
	tmp    *tempFile     // nil when writing to a stream
	w      *bufio.Writer //
	line   []byte
	stats  pipeline.WriterStats
	state  writerState
}

// NewJSONLWriter writes JSON lines to the file path (NewJSONLStreamWriter
// writes them to a stream). Each line is an object whose keys are the Column.Names in schema
// order; values are typed: numbers as numbers, timestamps as
// RFC 3339 (mapping.TimestampLayout) strings, dates as "2006-01-02", lists as
// arrays, nil as null. A raw value (Row.Raw) is written as its string in its
// column's place.
func NewJSONLWriter(path string, schema pipeline.Schema) (pipeline.RowWriter, error) {
	if err := checkSchema(path, schema); err != nil {
		return nil, err
	}
	tmp, err := createTemp(path)
	if err != nil {
		return nil, err
	}
	w := newJSONL(path, schema)
	w.tmp, w.w = tmp, tmp.w
	return w, nil
}

// NewJSONLStreamWriter writes JSON lines to out through a buffer. Commit
// flushes the buffer; Abort drops what is still buffered (lines already
// flushed to out stay there). out is never closed.
func NewJSONLStreamWriter(out io.Writer, schema pipeline.Schema) (pipeline.RowWriter, error) {
	if err := checkSchema("-", schema); err != nil {
		return nil, err
	}
	w := newJSONL("-", schema)
	w.w = bufio.NewWriterSize(out, 64<<10)
	return w, nil
}

func newJSONL(path string, schema pipeline.Schema) *jsonlWriter {
	w := &jsonlWriter{path: path, schema: schema, keys: make([][]byte, len(schema.Columns))}
	for i, c := range schema.Columns {
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		k := appendJSONString([]byte{sep}, c.Name)
		w.keys[i] = append(k, ':')
	}
	return w
}

func (w *jsonlWriter) WriteRows(rows []pipeline.Row) error {
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
			w.line = append(w.line, w.keys[i]...)
			if raw, ok := r.Raw[i]; ok {
				w.stats.RawValues++
				w.line = appendJSONString(w.line, raw)
				continue
			}
			w.line = appendJSONValue(w.line, w.schema.Columns[i].Kind, v)
		}
		w.line = append(w.line, '}', '\n')
		if _, err := w.w.Write(w.line); err != nil {
			return fmt.Errorf("sinks: %s: row %d: %w", w.path, n, err)
		}
		w.stats.Rows++
	}
	return nil
}

func appendJSONValue(b []byte, k pipeline.Kind, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendJSONString(b, v)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			// JSON has no such numbers: keep the value as a string.
			return appendJSONString(b, strconv.FormatFloat(v, 'f', -1, 64))
		}
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	case time.Time:
		b = append(b, '"')
		if k == pipeline.Date {
			b = v.AppendFormat(b, mapping.DateLayout)
		} else {
			b = v.AppendFormat(b, mapping.TimestampLayout)
		}
		return append(b, '"')
	case []string:
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']')
	}
	panic(fmt.Sprintf("sinks: unchecked value type %T", v)) // checkRow rejects every other type
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does; U+2028 and U+2029 are escaped so that a line can be
// embedded in JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func (w *jsonlWriter) Commit() error {
	if err := w.state.check(w.path); err != nil {
		return err
	}
	w.state = stateCommitted
	if w.tmp != nil {
		return w.tmp.commit()
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("sinks: %s: %w", w.path, err)
	}
	return nil
}

func (w *jsonlWriter) Abort() error {
	if w.state != stateOpen {
		return nil
	}
	w.state = stateAborted
	if w.tmp != nil {
		return w.tmp.abort()
	}
	w.w.Reset(io.Discard)
	return nil
}

func (w *jsonlWriter) Stats() pipeline.WriterStats { return w.stats }
