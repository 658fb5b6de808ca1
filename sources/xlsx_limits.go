package sources

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf16"

	"github.com/udesk-etl/udesk-etl/mapping"
)

// Bounds on what reading one workbook may hold in memory, so that a zip bomb
// (a small file whose sheet expands to gigabytes, or one enormous cell) is
// rejected cell by cell instead of being read whole.
const (
	maxCellChars = mapping.ExcelMaxCellChars
	// maxCellSource is the decoded XML text of a cell beyond which it holds
	// more than maxCellChars characters for sure: an _xHHHH_ escape, seven
	// bytes, is the longest form of one character.
	maxCellSource = 7 * maxCellChars
	// maxRowText bounds the text of one row's cells.
	maxRowText = 16 << 20
	// maxXMLText bounds the bytes of one XML text run handed to the decoder
	// (a cell's text, written with character references, is well under it).
	maxXMLText = 1 << 20
	// maxXMLMarkup bounds one tag, comment or CDATA section.
	maxXMLMarkup = 1 << 20
	// maxXMLPart bounds the small parts decoded whole (workbook, styles,
	// relationships).
	maxXMLPart = 64 << 20
	// maxLongCellsText bounds the full texts kept from LongCellsSheet.
	maxLongCellsText = 256 << 20
	// maxSharedText bounds the text of the shared-strings table, which is
	// held in memory for the whole read: 256 MiB is over a million rows of
	// distinct long texts.
	maxSharedText = 256 << 20
	// maxSharedRatio bounds how many times its compressed size the shared
	// strings' text may be once it passes sharedRatioFloor: the table holds
	// each distinct string once, so real text compresses some 3-10 times,
	// while a small file whose strings fill gigabytes is a zip bomb.
	maxSharedRatio   = 100
	sharedRatioFloor = 16 << 20
)

// sharedTextLimit is the bound on the shared strings' text of a part whose
// compressed size is compressed.
func sharedTextLimit(compressed uint64) int64 {
	limit := int64(maxSharedText)
	if r := int64(compressed) * maxSharedRatio; r < limit {
		limit = max(r, sharedRatioFloor)
	}
	return limit
}

// xmlLimiter is the byte source of a sheet's (or the shared strings') XML
// decoder. encoding/xml keeps a whole token in memory before returning it;
// this bounds every token. A text run longer than maxXMLText is cut at a
// character boundary, outside an entity reference, and the rest of it is
// skipped up to the next tag; cuts counts those runs, so that the reader can
// reject the cell. Any other token longer than maxXMLMarkup is an error.
// Being an io.ByteReader, it is read by the decoder byte by byte, without a
// buffer of the decoder's own, so a token's bytes are all read when the
// decoder returns it; markupDone must follow every token but text.
type xmlLimiter struct {
	r      io.Reader
	buf    []byte
	pos    int
	err    error
	n      int  // bytes of the current token
	markup bool // the current token is not text
	entity bool // inside an entity reference of a text run
	cuts   int
}

func newXMLLimiter(r io.Reader) *xmlLimiter {
	return &xmlLimiter{r: r, buf: make([]byte, 0, 64<<10)}
}

func (l *xmlLimiter) fill() error {
	for l.err == nil {
		n, err := l.r.Read(l.buf[:cap(l.buf)])
		l.buf, l.pos, l.err = l.buf[:n], 0, err
		if n > 0 {
			return nil
		}
	}
	return l.err
}

func (l *xmlLimiter) ReadByte() (byte, error) {
	if l.pos == len(l.buf) {
		if err := l.fill(); err != nil {
			return 0, err
		}
	}
	c := l.buf[l.pos]
	l.pos++
	l.n++
	switch {
	case l.markup:
		if l.n > maxXMLMarkup {
			return 0, fmt.Errorf("an XML tag longer than %d bytes", maxXMLMarkup)
		}
	case c == '<':
		l.markup, l.n, l.entity = true, 1, false
	case l.n > maxXMLText && (l.n > maxXMLText+64 || !l.entity && c&0xC0 != 0x80):
		return l.cut()
	case c == '&':
		l.entity = true
	case c == ';':
		l.entity = false
	}
	return c, nil
}

// cut drops the rest of a text run and returns the '<' that ends it.
func (l *xmlLimiter) cut() (byte, error) {
	l.cuts++
	for {
		if i := bytes.IndexByte(l.buf[l.pos:], '<'); i >= 0 {
			l.pos += i + 1
			l.markup, l.n, l.entity = true, 1, false
			return '<', nil
		}
		l.pos = len(l.buf)
		if err := l.fill(); err != nil {
			return 0, err
		}
	}
}

// markupDone says that the decoder returned a token other than text.
func (l *xmlLimiter) markupDone() { l.markup, l.n = false, 0 }

// Read serves callers other than encoding/xml, which uses ReadByte.
func (l *xmlLimiter) Read(p []byte) (int, error) {
	for i := range p {
		c, err := l.ReadByte()
		if err != nil {
			return i, err
		}
		p[i] = c
	}
	return len(p), nil
}

// tooLong says whether s is over Excel's cell limit.
func tooLong(s string) bool {
	if len(s) <= maxCellChars { // UTF-8 bytes >= UTF-16 units
		return false
	}
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n > maxCellChars
}

// cellName is a cell's reference, such as "C5".
func cellName(col, row int) string {
	var b []byte
	for ; col > 0; col = (col - 1) / 26 {
		b = append([]byte{byte('A' + (col-1)%26)}, b...)
	}
	return fmt.Sprintf("%s%d", b, row)
}
