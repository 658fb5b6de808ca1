package sinks

import (
	"bufio"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// rowsXML holds the rows below the header of one streamed sheet as
// worksheet XML, in a temp file: excelize's StreamWriter.SetRow spent more
// than half of the writer's time on per-cell work (cell names, boxed cell
// structs, escaping through encoding/xml). zipStream puts these rows into
// the sheet's part, before its </sheetData>. Cells are written as excelize
// writes them: strings inline, numbers with at most 15 significant digits.
type rowsXML struct {
	file *os.File
	bw   *bufio.Writer
	cols []string // column letters
	buf  []byte   // the row being built
	row  []byte   // its number, as text
}

func newRowsXML(dir string, cols []string) (*rowsXML, error) {
	f, err := os.CreateTemp(dir, "udesk-etl-rows-")
	if err != nil {
		return nil, err
	}
	return &rowsXML{file: f, bw: bufio.NewWriterSize(f, 1<<20), cols: cols}, nil
}

func (s *rowsXML) startRow(n int) {
	s.row = strconv.AppendInt(s.row[:0], int64(n), 10)
	s.buf = append(s.buf[:0], `<row r="`...)
	s.buf = append(s.buf, s.row...)
	s.buf = append(s.buf, `">`...)
}

// cell adds the cell of column col (from 0): v is nil (no cell unless
// styled), a string, an int64 or a float64.
func (s *rowsXML) cell(col, style int, v any) {
	if v == nil && style == 0 {
		return
	}
	b := append(s.buf, `<c r="`...)
	b = append(b, s.cols[col]...)
	b = append(b, s.row...)
	b = append(b, '"')
	if style != 0 {
		b = append(b, ` s="`...)
		b = strconv.AppendInt(b, int64(style), 10)
		b = append(b, '"')
	}
	switch v := v.(type) {
	case string:
		b = append(b, ` t="inlineStr"><is><t`...)
		if v != "" && (isXMLSpace(v[0]) || isXMLSpace(v[len(v)-1])) {
			b = append(b, ` xml:space="preserve"`...)
		}
		b = append(b, '>')
		b = appendCellText(b, v)
		b = append(b, `</t></is></c>`...)
	case int64:
		b = append(b, `><v>`...)
		b = strconv.AppendInt(b, v, 10)
		b = append(b, `</v></c>`...)
	case float64:
		b = append(b, `><v>`...)
		b = append(b, cellFloat(v)...)
		b = append(b, `</v></c>`...)
	default:
		b = append(b, `></c>`...)
	}
	s.buf = b
}

func (s *rowsXML) endRow() error {
	s.buf = append(s.buf, `</row>`...)
	_, err := s.bw.Write(s.buf)
	return err
}

// copyTo writes the rows so far to w.
func (s *rowsXML) copyTo(w io.Writer) error {
	if err := s.bw.Flush(); err != nil {
		return err
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(w, s.file)
	return err
}

func (s *rowsXML) close() {
	_ = s.file.Close()
	_ = os.Remove(s.file.Name())
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// appendCellText appends s escaped for XML as excelize escapes a cell's text:
// line feeds kept, tabs and carriage returns as character references,
// characters XML cannot hold replaced by U+FFFD, and a "_x" followed by four
// hex digits and "_" (which a reader takes for an escaped character) with
// its "_" written as "_x005F_".
func appendCellText(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf {
			switch c {
			case '&':
				b = append(b, "&amp;"...)
			case '<':
				b = append(b, "&lt;"...)
			case '>':
				b = append(b, "&gt;"...)
			case '"':
				b = append(b, "&#34;"...)
			case '\'':
				b = append(b, "&#39;"...)
			case '_':
				if isEscapedChar(s[i:]) {
					b = append(b, "_x005F_"...)
				} else {
					b = append(b, '_')
				}
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\n':
			b = append(b, '\n')
		case r == '\t':
			b = append(b, "&#x9;"...)
		case r == '\r':
			b = append(b, "&#xD;"...)
		case r == utf8.RuneError && n == 1, !isXMLChar(r):
			b = append(b, "\uFFFD"...)
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

// isEscapedChar tells whether s starts with "_xHHHH_".
func isEscapedChar(s string) bool {
	if len(s) < 7 || s[1] != 'x' || s[6] != '_' {
		return false
	}
	for _, c := range []byte(s[2:6]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isXMLChar is XML 1.0's Char production.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// cellFloat is v as excelize writes a float: at most 15 significant digits
// (what Excel keeps), the rest cut.
func cellFloat(v float64) string {
	str := strconv.FormatFloat(v, 'f', -1, 64)
	if math.Abs(v) == math.MaxFloat64 {
		return str
	}
	const maxPrec = 15
	decimal := strings.IndexByte(str, '.')
	significant := 0
	for i := range str {
		if str[i] < '0' || str[i] > '9' || significant == 0 && str[i] == '0' {
			continue
		}
		significant++
		if significant <= maxPrec {
			continue
		}
		if decimal >= 0 && i > decimal {
			return strings.TrimSuffix(str[:i], ".")
		}
		if decimal < 0 {
			decimal = len(str)
		}
		cut := []byte(str[:decimal])
		for ; i < len(cut); i++ {
			cut[i] = '0'
		}
		return string(cut)
	}
	return str
}
