package sources

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// JSONLReader reads JSON lines: one object per line. Its header is the union
// of the keys of all lines in first-seen order, found by a first pass over the
// file that reads only keys, so no line's key is ever unknown.
type JSONLReader struct {
	path   string
	f      *os.File
	br     *bufio.Reader
	header []string
	index  map[string]int
	line   int
	closed bool
}

// OpenJSONL opens a JSON lines file. Values become strings: strings as they
// are, numbers as their JSON text, true/false, null as "", arrays as their
// elements joined with ",", objects as compact JSON. A key that appears twice
// in one object keeps its last value.
func OpenJSONL(path string) (*JSONLReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := &JSONLReader{path: path, f: f, br: bufio.NewReaderSize(f, 256<<10), index: map[string]int{}}
	var keys []string
	lines := 0
	for {
		line, err := r.readLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		lines++
		_ = objectKeys(line, func(k string) {
			if _, ok := r.index[k]; !ok {
				r.index[k] = len(keys)
				keys = append(keys, k)
			}
		})
	}
	if lines == 0 {
		f.Close()
		return nil, fmt.Errorf("%s: empty file", path)
	}
	if len(keys) == 0 {
		f.Close()
		return nil, fmt.Errorf("%s: no header: no line is an object with keys", path)
	}
	if _, err := checkHeader(path, keys); err != nil {
		f.Close()
		return nil, err
	}
	r.header = keys
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	r.br.Reset(f)
	r.line = 0
	return r, nil
}

// readLine returns the next line that is not blank, without its line ending
// and a leading BOM; r.line is its number.
func (r *JSONLReader) readLine() ([]byte, error) {
	for {
		line, err := r.br.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			return nil, err
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		r.line++
		if r.line == 1 {
			line = bytes.TrimPrefix(line, utf8BOM)
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			return line, nil
		}
	}
}

var errNotObject = errors.New("not a JSON object")

// objectKeys calls fn with each top-level key of the object in line, and
// checks the line is exactly one valid object.
func objectKeys(line []byte, fn func(string)) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil {
		return err
	} else if tok != json.Delim('{') {
		return errNotObject
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		fn(tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}

// Header returns the keys in first-seen order.
func (r *JSONLReader) Header() []string { return r.header }

// Next returns the next object's values aligned with the header. A line that
// is not one JSON object comes back as a *pipeline.RowError with its line
// number; reading goes on.
func (r *JSONLReader) Next(ctx context.Context) (pipeline.Record, error) {
	if r.closed {
		return pipeline.Record{}, errClosed
	}
	if err := ctxErr(ctx); err != nil {
		return pipeline.Record{}, err
	}
	line, err := r.readLine()
	if err != nil {
		return pipeline.Record{}, err
	}
	pos := pipeline.Position{File: r.path, Row: r.line}
	var obj map[string]json.RawMessage
	if err := objectKeys(line, func(string) {}); err != nil {
		return pipeline.Record{Pos: pos}, &pipeline.RowError{Pos: pos, Err: fmt.Errorf("invalid JSON object: %v", err)}
	}
	if err := json.Unmarshal(line, &obj); err != nil {
		return pipeline.Record{Pos: pos}, &pipeline.RowError{Pos: pos, Err: fmt.Errorf("invalid JSON object: %v", err)}
	}
	cells := make([]string, len(r.header))
	for k, raw := range obj {
		v, err := jsonText(raw)
		if err != nil {
			return pipeline.Record{Pos: pos}, &pipeline.RowError{Pos: pos, Column: k, Err: err}
		}
		cells[r.index[k]] = v
	}
	return pipeline.Record{Pos: pos, Cells: cells}, nil
}

// jsonText renders one JSON value as a cell.
func jsonText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", nil
	}
	switch raw[0] {
	case '"':
		// JSON text is literal: escaped like a CSV cell, which is the form
		// import undoes, so a leading = or ' reaches Udesk as it is here.
		var s string
		err := json.Unmarshal(raw, &s)
		return mapping.EscapeFormula(s), err
	case 'n':
		return "", nil
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return "", err
		}
		parts := make([]string, len(elems))
		for i, e := range elems {
			s, err := jsonText(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case '{':
		var b bytes.Buffer
		err := json.Compact(&b, raw)
		return b.String(), err
	}
	return string(raw), nil
}

// Close closes the file.
func (r *JSONLReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.f.Close()
}
