package sources

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// CSVOptions tunes the CSV reader.
type CSVOptions struct {
	Encoding string // "" = detect (UTF-8, else GB18030, which reads GBK), "utf-8", "gbk", "gb18030"
}

// maxCSVRecord bounds the bytes of one record, so that a stray quote cannot
// make a quoted field swallow a whole large file into memory.
const maxCSVRecord = 64 << 20

var errUnclosedQuote = errors.New(`quoted field is never closed (unbalanced ")`)

// CSVReader reads a comma-separated file whose first non-blank row is the
// header. Unlike encoding/csv it keeps "\r\n" inside quoted fields as written.
type CSVReader struct {
	pandasIndex // Notes
	path        string
	f           *os.File
	p           *csvParser
	header      []string
	closed      bool
	// folded counts the line breaks inside quoted cells before the current
	// record: a record's row is its first line less them, as a spreadsheet
	// shows it (a blank line is a row there too).
	folded int
}

// OpenCSV opens a CSV file: UTF-8 (a BOM is dropped) or GBK/GB18030 as
// Chinese Excel writes it. With Encoding "" the whole file is scanned first:
// it is UTF-8 when every line is valid UTF-8, else GB18030; a file whose lines
// are in both encodings is refused, naming the first line that differs.
func OpenCSV(path string, opts CSVOptions) (*CSVReader, error) {
	var dec *encoding.Decoder
	enc := strings.ToLower(opts.Encoding)
	switch enc {
	case "", "utf-8", "utf8":
	case "gbk":
		dec = simplifiedchinese.GBK.NewDecoder()
	case "gb18030":
		dec = simplifiedchinese.GB18030.NewDecoder()
	default:
		return nil, fmt.Errorf("%s: unknown encoding %q (expected utf-8, gbk or gb18030)", path, opts.Encoding)
	}
	found, err := scanCSV(path, enc)
	if err != nil {
		return nil, err
	}
	if enc == "" && found == "gb18030" {
		dec = simplifiedchinese.GB18030.NewDecoder()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 256<<10)
	if dec == nil {
		if b, _ := br.Peek(3); bytes.Equal(b, utf8BOM) {
			br.Discard(3)
		}
	} else {
		br = bufio.NewReaderSize(transform.NewReader(br, dec), 256<<10)
	}
	r := &CSVReader{path: path, f: f, p: &csvParser{br: br}}
	fields, start, err := r.p.next()
	for err == nil && len(trimTrailingEmpty(fields)) == 0 {
		fields, start, err = r.p.next()
	}
	r.folded = r.p.lineNum - start
	if err != nil {
		f.Close()
		switch {
		case err == io.EOF && r.p.lineNum == 0:
			return nil, fmt.Errorf("%s: empty file", path)
		case err == io.EOF:
			return nil, fmt.Errorf("%s: no header row (only blank lines)", path)
		}
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	if r.header, err = checkHeader(path, r.dropIndex(path, trimTrailingEmpty(fields))); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// scanCSV reads the file once, a line at a time, before any row is
// returned. It refuses a file with a quoted field that is never closed (see
// quoteScan) and, for enc "" (detect) or UTF-8, returns its encoding, "utf-8"
// or "gb18030". A line counts as UTF-8 evidence when it is valid UTF-8 with a
// sequence of three bytes or more (Chinese in UTF-8): short GBK lines can be
// valid UTF-8 two-byte sequences by chance, three-byte ones practically
// never. The quote scan reads bytes: in GBK and GB18030 the bytes of a
// Chinese character are never '"', ',' or '\n'.
func scanCSV(path, enc string) (string, error) {
	detect, forcedUTF8 := enc == "", enc == "utf-8" || enc == "utf8"
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	head, _ := br.Peek(3)
	if len(head) >= 2 && (head[0] == 0xFF && head[1] == 0xFE || head[0] == 0xFE && head[1] == 0xFF) {
		return "", fmt.Errorf("%s: the file is UTF-16 (Excel \"Unicode text\"); save it as \"CSV UTF-8\" or CSV", path)
	}
	utf8Line, badLine := 0, 0
	if bytes.Equal(head, utf8BOM) {
		utf8Line = 1
	}
	var long []byte
	var q quoteScan
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
			line = long
		}
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		if err == io.EOF && len(line) == 0 {
			break
		}
		if q.line(line, n); q.open > maxCSVRecord {
			return "", fmt.Errorf("%s: line %d: a quoted field opens here and runs over %d MiB: is its closing quote missing? The file is refused", path, q.openLine, maxCSVRecord>>20)
		}
		if !detect && !forcedUTF8 {
			if err == io.EOF {
				break
			}
			continue
		}
		if !utf8.Valid(line) {
			if badLine == 0 {
				badLine = n
			}
		} else if utf8Line == 0 && hasByteAtLeast(line, 0xE0) {
			utf8Line = n
		}
		switch {
		case badLine != 0 && forcedUTF8:
			return "", fmt.Errorf("%s: line %d is not valid UTF-8", path, badLine)
		case badLine != 0 && utf8Line != 0:
			if utf8Line < badLine {
				return "", fmt.Errorf("%s: line %d is not UTF-8 but line %d is: the file mixes encodings", path, badLine, utf8Line)
			}
			return "", fmt.Errorf("%s: line %d is UTF-8 but line %d is not (GBK?): the file mixes encodings", path, utf8Line, badLine)
		}
		if err == io.EOF {
			break
		}
	}
	if q.inQuote {
		return "", fmt.Errorf("%s: line %d: a quoted field opens here and is never closed (an unbalanced \"), so where the rows after it start cannot be told; the file is refused: close or remove that quote", path, q.openLine)
	}
	if badLine != 0 {
		return "gb18030", nil
	}
	return "utf-8", nil
}

// quoteScan follows the quoting of a CSV file line by line as csvParser
// reads it, keeping nothing but its state, to find a quoted field that is
// never closed: the parser could only guess where the rows after it start.
// A bare quote, or text after a closing quote, breaks only its own record
// (a row error; the parser goes on at the next line), and so here too.
type quoteScan struct {
	inQuote  bool
	openLine int // the line where the open quoted field starts
	open     int // bytes since then
}

func (q *quoteScan) line(b []byte, n int) {
	if q.inQuote {
		q.open += len(b)
	}
	fieldStart := true
	for i := 0; i < len(b); i++ {
		c := b[i]
		if q.inQuote {
			if c != '"' {
				continue
			}
			if i+1 < len(b) && b[i+1] == '"' {
				i++
				continue
			}
			q.inQuote = false
			if i+1 < len(b) && b[i+1] == ',' {
				i++
				fieldStart = true
				continue
			}
			return // the record's end, or text after the quote
		}
		switch {
		case c == '"' && fieldStart:
			q.inQuote, q.openLine, q.open = true, n, len(b)-i
		case c == '"':
			return // a bare quote
		default:
			fieldStart = c == ','
		}
	}
}

func hasByteAtLeast(b []byte, min byte) bool {
	for _, c := range b {
		if c >= min {
			return true
		}
	}
	return false
}

// Header returns the column names, trimmed.
func (r *CSVReader) Header() []string { return r.header }

// Next returns the next non-blank record. A row that cannot be parsed (a bare
// quote, text after a closing quote) or whose cell count differs from the
// header's (*RaggedRowError) comes back as a *pipeline.RowError; reading goes
// on with the following lines. An unparsable row's cells are its text as
// read, split at each comma (the last cell takes what is beyond the header's
// width), so that the error file shows the row to fix.
func (r *CSVReader) Next(ctx context.Context) (pipeline.Record, error) {
	if r.closed {
		return pipeline.Record{}, errClosed
	}
	if err := ctxErr(ctx); err != nil {
		return pipeline.Record{}, err
	}
	for {
		fields, start, err := r.p.next()
		pos := pipeline.Position{File: r.path, Row: start - r.folded}
		if err == nil {
			r.folded += r.p.lineNum - start
		}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe) && pe.Err == errUnclosedQuote:
			// Only when the file changed after OpenCSV's scan.
			return pipeline.Record{}, fmt.Errorf("%s: %w", r.path, err)
		case errors.As(err, &pe):
			return pipeline.Record{Pos: pos, Cells: rawCells(r.p.rawText(), len(r.header))}, &pipeline.RowError{Pos: pos, Err: err}
		case err != nil:
			return pipeline.Record{}, err
		}
		if len(trimTrailingEmpty(fields)) == 0 {
			continue
		}
		fields, err = r.cells(pos, fields)
		rec := pipeline.Record{Pos: pos, Cells: fields}
		if err != nil {
			return rec, err
		}
		return rec, raggedError(pos, fields, len(r.header), true)
	}
}

// Close closes the file.
func (r *CSVReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.f.Close()
}

// csvParser splits UTF-8 text into records as encoding/csv does with
// FieldsPerRecord -1 and LazyQuotes false, except that line endings inside
// quoted fields are kept byte for byte.
type csvParser struct {
	br      *bufio.Reader
	lineNum int    // physical lines read from br
	long    []byte // a line longer than br's buffer

	raw   []byte // the current record's lines, copied
	lines []int  // start offset in raw of each of the record's lines
	buf   []byte // the current record's field bytes
	ends  []int  // end offset in buf of each field
}

// readLine returns the next physical line, its number and io.EOF at the end.
// A "\r" just before the end of the file is dropped, as encoding/csv does.
func (p *csvParser) readLine() ([]byte, int, error) {
	line, err := p.br.ReadSlice('\n')
	for err == bufio.ErrBufferFull {
		p.long = append(p.long[:0], line...)
		line, err = p.br.ReadSlice('\n')
		p.long = append(p.long, line...)
		line = p.long
	}
	if err != nil && err != io.EOF {
		return nil, 0, err
	}
	if len(line) == 0 {
		return nil, 0, io.EOF
	}
	if err == io.EOF && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	p.lineNum++
	p.lines = append(p.lines, len(p.raw))
	p.raw = append(p.raw, line...)
	return p.raw[p.lines[len(p.lines)-1]:], p.lineNum, nil
}

// eolLen is the length of the line ending at the start of rest, -1 when rest
// does not start with one (an empty rest is the end of the file).
func eolLen(rest []byte) int {
	switch {
	case len(rest) == 0:
		return 0
	case rest[0] == '\n' && len(rest) == 1:
		return 1
	case rest[0] == '\r' && len(rest) == 2 && rest[1] == '\n':
		return 2
	}
	return -1
}

// next returns the next record's fields and the line it starts on; blank
// lines are skipped. Errors are *csv.ParseError (the record is skipped, the
// parser can go on), io.EOF, or a read error.
func (p *csvParser) next() ([]string, int, error) {
	p.raw, p.lines = p.raw[:0], p.lines[:0]
	p.buf, p.ends = p.buf[:0], p.ends[:0]
	var line []byte
	var num int
	for {
		var err error
		if line, num, err = p.readLine(); err != nil {
			return nil, 0, err
		}
		if eolLen(line) < 0 {
			break
		}
		p.raw, p.lines = p.raw[:0], p.lines[:0]
	}
	start, col := num, 0
	for {
		if col < len(line) && line[col] == '"' {
			openNum, openCol := num, runeCol(line, col)
			col++
			for {
				i := bytes.IndexByte(line[col:], '"')
				if i < 0 {
					p.buf = append(p.buf, line[col:]...)
					var err error
					if len(p.buf) > maxCSVRecord || len(line) == 0 || line[len(line)-1] != '\n' {
						err = io.EOF
					} else {
						line, num, err = p.readLine()
						col = 0
					}
					if err == io.EOF {
						return nil, start, &csv.ParseError{StartLine: start, Line: openNum, Column: openCol, Err: errUnclosedQuote}
					}
					if err != nil {
						return nil, 0, err
					}
					continue
				}
				p.buf = append(p.buf, line[col:col+i]...)
				col += i + 1
				switch {
				case col < len(line) && line[col] == '"':
					p.buf = append(p.buf, '"')
					col++
					continue
				case col < len(line) && line[col] == ',':
					col++
					p.ends = append(p.ends, len(p.buf))
				case eolLen(line[col:]) >= 0:
					p.ends = append(p.ends, len(p.buf))
					return p.fields(), start, nil
				default:
					return nil, start, &csv.ParseError{StartLine: start, Line: num, Column: runeCol(line, col-1), Err: csv.ErrQuote}
				}
				break
			}
			continue
		}
		rest := line[col:]
		field := rest
		i := bytes.IndexByte(rest, ',')
		if i >= 0 {
			field = rest[:i]
		} else if n := len(rest); n > 0 && rest[n-1] == '\n' {
			field = rest[:n-1]
			if n > 1 && rest[n-2] == '\r' {
				field = rest[:n-2]
			}
		}
		if j := bytes.IndexByte(field, '"'); j >= 0 {
			return nil, start, &csv.ParseError{StartLine: start, Line: num, Column: runeCol(line, col+j), Err: csv.ErrBareQuote}
		}
		p.buf = append(p.buf, field...)
		p.ends = append(p.ends, len(p.buf))
		if i < 0 {
			return p.fields(), start, nil
		}
		col += i + 1
	}
}

// rawText is the text of the record that failed to parse, without its line
// ending.
func (p *csvParser) rawText() string {
	return strings.TrimRight(string(p.raw), "\r\n")
}

// rawCells splits a row's text at each comma into width cells at most.
func rawCells(text string, width int) []string {
	cells := strings.Split(text, ",")
	if width > 0 && len(cells) > width {
		cells[width-1] = strings.Join(cells[width-1:], ",")
		cells = cells[:width]
	}
	return cells
}

func (p *csvParser) fields() []string {
	s := string(p.buf)
	out := make([]string, len(p.ends))
	prev := 0
	for i, end := range p.ends {
		out[i] = s[prev:end]
		prev = end
	}
	return out
}

// runeCol is the 1-based column, in characters, of byte i of line.
func runeCol(line []byte, i int) int {
	return utf8.RuneCount(line[:i]) + 1
}
