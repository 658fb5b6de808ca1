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
	path   string
	f      *os.File
	p      *csvParser
	header []string
	closed bool
}

// OpenCSV opens a CSV file: UTF-8 (a BOM is dropped) or GBK/GB18030 as
// Chinese Excel writes it. With Encoding "" the whole file is scanned first:
// it is UTF-8 when every line is valid UTF-8, else GB18030; a file whose lines
// are in both encodings is refused, naming the first line that differs.
func OpenCSV(path string, opts CSVOptions) (*CSVReader, error) {
	var dec *encoding.Decoder
	switch strings.ToLower(opts.Encoding) {
	case "", "utf-8", "utf8":
		enc, err := scanCSVEncoding(path, opts.Encoding != "")
		if err != nil {
			return nil, err
		}
		if enc == "gb18030" {
			dec = simplifiedchinese.GB18030.NewDecoder()
		}
	case "gbk":
		dec = simplifiedchinese.GBK.NewDecoder()
	case "gb18030":
		dec = simplifiedchinese.GB18030.NewDecoder()
	default:
		return nil, fmt.Errorf("%s: unknown encoding %q (expected utf-8, gbk or gb18030)", path, opts.Encoding)
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
	fields, _, err := r.p.next()
	for err == nil && len(trimTrailingEmpty(fields)) == 0 {
		fields, _, err = r.p.next()
	}
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
	if r.header, err = checkHeader(path, trimTrailingEmpty(fields)); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// scanCSVEncoding reads the file once and returns "utf-8" or "gb18030".
// A line counts as UTF-8 evidence when it is valid UTF-8 with a sequence of
// three bytes or more (Chinese in UTF-8): short GBK lines can be valid UTF-8
// two-byte sequences by chance, three-byte ones practically never.
func scanCSVEncoding(path string, forcedUTF8 bool) (string, error) {
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
	if badLine != 0 {
		return "gb18030", nil
	}
	return "utf-8", nil
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
// or unbalanced quote) or that has more cells than the header comes back as a
// *pipeline.RowError; reading goes on with the following lines. An
// unparsable row's cells are its text as read, split at each comma (the
// last cell takes what is beyond the header's width), so that the error
// file shows the row to fix.
func (r *CSVReader) Next(ctx context.Context) (pipeline.Record, error) {
	if r.closed {
		return pipeline.Record{}, errClosed
	}
	if err := ctxErr(ctx); err != nil {
		return pipeline.Record{}, err
	}
	for {
		fields, start, err := r.p.next()
		pos := pipeline.Position{File: r.path, Row: start}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			return pipeline.Record{Pos: pos, Cells: rawCells(r.p.rawText(), len(r.header))}, &pipeline.RowError{Pos: pos, Err: err}
		case err != nil:
			return pipeline.Record{}, err
		}
		if len(trimTrailingEmpty(fields)) == 0 {
			continue
		}
		rec := pipeline.Record{Pos: pos, Cells: fields}
		return rec, raggedError(pos, fields, len(r.header))
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

type csvLine struct {
	b   []byte // with its line ending, if any
	num int
}

// csvParser splits UTF-8 text into records as encoding/csv does with
// FieldsPerRecord -1 and LazyQuotes false, except that line endings inside
// quoted fields are kept byte for byte, and that after a quoted field left
// open it reads again from the line after the one where the record started.
type csvParser struct {
	br      *bufio.Reader
	lineNum int       // physical lines read from br
	pending []csvLine // lines to read again before br
	long    []byte    // a line longer than br's buffer

	raw    []byte // the current record's lines, copied
	lines  []int  // start offset in raw of each of the record's lines
	nums   []int  // their line numbers
	buf    []byte // the current record's field bytes
	ends   []int  // end offset in buf of each field
	reread bool   // the record's lines after its first are to be read again
}

// readLine returns the next physical line, its number and io.EOF at the end.
// A "\r" just before the end of the file is dropped, as encoding/csv does.
func (p *csvParser) readLine() ([]byte, int, error) {
	var line []byte
	var num int
	if len(p.pending) > 0 {
		line, num = p.pending[0].b, p.pending[0].num
		p.pending = p.pending[1:]
	} else {
		var err error
		line, err = p.br.ReadSlice('\n')
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
		num = p.lineNum
	}
	p.lines = append(p.lines, len(p.raw))
	p.nums = append(p.nums, num)
	p.raw = append(p.raw, line...)
	return p.raw[p.lines[len(p.lines)-1]:], num, nil
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
	p.raw, p.lines, p.nums = p.raw[:0], p.lines[:0], p.nums[:0]
	p.buf, p.ends, p.reread = p.buf[:0], p.ends[:0], false
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
		p.raw, p.lines, p.nums = p.raw[:0], p.lines[:0], p.nums[:0]
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
						p.rereadLines()
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
// ending: its first line when the lines after it are to be read again.
func (p *csvParser) rawText() string {
	b := p.raw
	if p.reread && len(p.lines) > 1 {
		b = p.raw[:p.lines[1]]
	}
	return strings.TrimRight(string(b), "\r\n")
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

// rereadLines queues the current record's lines after its first to be read again.
func (p *csvParser) rereadLines() {
	p.reread = true
	if len(p.lines) < 2 {
		return
	}
	again := make([]byte, len(p.raw)-p.lines[1])
	copy(again, p.raw[p.lines[1]:])
	queued := make([]csvLine, 0, len(p.lines)-1+len(p.pending))
	for k := 1; k < len(p.lines); k++ {
		end := len(p.raw)
		if k+1 < len(p.lines) {
			end = p.lines[k+1]
		}
		queued = append(queued, csvLine{b: again[p.lines[k]-p.lines[1] : end-p.lines[1]], num: p.nums[k]})
	}
	p.pending = append(queued, p.pending...)
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
