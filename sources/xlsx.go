package sources

import (
	"archive/zip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// MetaSheet is the hidden sheet in which our exporter writes key/value rows;
// it is never taken as the data sheet.
const MetaSheet = mapping.WorkbookMetaSheet

// maxXLSXExpanded bounds the sum of the uncompressed sizes that a workbook's
// zip directory declares (archive/zip refuses an entry that expands beyond its
// declared size, so the check holds for the bytes actually read).
const maxXLSXExpanded = 4 << 30

// maxXLSXColumns is Excel's column limit (XFD).
const maxXLSXColumns = 16384

// XLSXReader streams one sheet of a workbook. It reads the sheet's XML from
// the zip directly rather than through excelize's streaming Rows, which was
// measured against it (BenchmarkXLSXReaders, a 100k-row export, 2 shared
// cores): ours 27k rows/s, 395 MB and 10.8M allocations per read, 9 MB peak
// heap; excelize formatted 3.3k rows/s, 1.42 GB, 43M allocations, 6 MB;
// excelize raw values 21k rows/s, 880 MB, 18M allocations, 10 MB. It is kept
// because what an import needs is not in either excelize mode: the raw mode
// gives a date as its serial number with no way, while streaming, to see
// the cell's style that says it is a date, and the formatted mode (8x
// slower) gives dates as the number format shows them; nor does Rows say
// whether a cell is text (which the formula escape of import depends on) or
// a formula with no saved value, and it has no bounds against a cell or a
// sheet that expands to gigabytes (see xlsx_limits.go). Here numbers are
// read raw and only date-formatted ones are converted.
type XLSXReader struct {
	pandasIndex // Notes
	path, sheet string
	zr          *zip.ReadCloser
	s           *sheetStream
	header      []string
	meta        map[string]string
	long        *longCells // the full texts of this sheet's cut cells
	closed      bool
}

type xlsxRel struct {
	ID     string `xml:"Id,attr"`
	Type   string `xml:"Type,attr"`
	Target string `xml:"Target,attr"`
}

type xlsxRels struct {
	Rels []xlsxRel `xml:"Relationship"`
}

type xlsxWorkbook struct {
	Pr struct {
		Date1904 bool `xml:"date1904,attr"`
	} `xml:"workbookPr"`
	Sheets []struct {
		Name  string `xml:"name,attr"`
		State string `xml:"state,attr"`
		RID   string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
	} `xml:"sheets>sheet"`
}

type xlsxStyles struct {
	NumFmts []struct {
		ID   int    `xml:"numFmtId,attr"`
		Code string `xml:"formatCode,attr"`
	} `xml:"numFmts>numFmt"`
	Xfs []struct {
		NumFmtID int `xml:"numFmtId,attr"`
	} `xml:"cellXfs>xf"`
}

type xlsxSheet struct {
	name, part string
	hidden     bool
}

// OpenXLSX opens the named sheet of a workbook, or with sheet "" its first
// visible sheet other than _udesk_meta. The header is the first non-empty row.
func OpenXLSX(filePath, sheet string) (*XLSXReader, error) {
	zr, err := zip.OpenReader(filePath)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: not an XLSX file (not a zip archive)", filePath)
	}
	r := &XLSXReader{path: filePath, zr: zr}
	if err := r.open(sheet); err != nil {
		zr.Close()
		return nil, err
	}
	return r, nil
}

func (r *XLSXReader) open(sheet string) error {
	var total uint64
	parts := make(map[string]*zip.File, len(r.zr.File))
	for _, f := range r.zr.File {
		total += f.UncompressedSize64
		parts[strings.ToLower(f.Name)] = f
	}
	if total > maxXLSXExpanded {
		return fmt.Errorf("%s: refused: its parts expand to %d bytes, over the %d limit (a zip bomb?)", r.path, total, uint64(maxXLSXExpanded))
	}
	wbPart := "xl/workbook.xml"
	var rootRels xlsxRels
	if err := readXMLPart(parts, "_rels/.rels", &rootRels); err == nil {
		for _, rel := range rootRels.Rels {
			if strings.HasSuffix(rel.Type, "/officeDocument") {
				wbPart = resolvePart("", rel.Target)
			}
		}
	}
	var wb xlsxWorkbook
	if err := readXMLPart(parts, wbPart, &wb); err != nil {
		return fmt.Errorf("%s: not an XLSX workbook: %v", r.path, err)
	}
	var wbRels xlsxRels
	relsPart := path.Join(path.Dir(wbPart), "_rels", path.Base(wbPart)+".rels")
	if err := readXMLPart(parts, relsPart, &wbRels); err != nil {
		return fmt.Errorf("%s: not an XLSX workbook: %v", r.path, err)
	}
	targets := map[string]string{}
	stylesPart, sstPart := "", ""
	for _, rel := range wbRels.Rels {
		p := resolvePart(path.Dir(wbPart), rel.Target)
		switch {
		case strings.HasSuffix(rel.Type, "/worksheet"):
			targets[rel.ID] = p
		case strings.HasSuffix(rel.Type, "/styles"):
			stylesPart = p
		case strings.HasSuffix(rel.Type, "/sharedStrings"):
			sstPart = p
		}
	}
	var sheets []xlsxSheet
	for _, s := range wb.Sheets {
		if p, ok := targets[s.RID]; ok {
			sheets = append(sheets, xlsxSheet{name: s.Name, part: p, hidden: s.State == "hidden" || s.State == "veryHidden"})
		}
	}
	chosen, err := chooseSheet(r.path, sheets, sheet)
	if err != nil {
		return err
	}
	r.sheet = chosen.name

	var st xlsxStyles
	if stylesPart != "" {
		if err := readXMLPart(parts, stylesPart, &st); err != nil {
			return fmt.Errorf("%s: styles: %v", r.path, err)
		}
	}
	kinds := cellKinds(st)
	var sst []string
	var sstLong map[int]bool
	if sstPart != "" {
		if sst, sstLong, err = readSharedStrings(parts, sstPart); err != nil {
			return fmt.Errorf("%s: shared strings: %v", r.path, err)
		}
	}
	newStream := func(part string) (*sheetStream, error) {
		f, ok := parts[strings.ToLower(part)]
		if !ok {
			return nil, fmt.Errorf("%s: sheet part %s is missing", r.path, part)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", r.path, err)
		}
		lim := newXMLLimiter(rc)
		return &sheetStream{rc: rc, lim: lim, dec: xml.NewDecoder(lim), sst: sst, sstLong: sstLong, kinds: kinds, date1904: wb.Pr.Date1904}, nil
	}
	for _, s := range sheets {
		if s.name == MetaSheet {
			if r.meta, err = readMeta(newStream, s.part); err != nil {
				return fmt.Errorf("%s sheet %q: %v", r.path, MetaSheet, err)
			}
		}
	}
	for _, s := range sheets {
		if s.name == LongCellsSheet {
			if r.long, err = readLongCells(newStream, s.part, longCellsSheetOf(r.meta, r.sheet)); err != nil {
				return fmt.Errorf("%s sheet %q: %v", r.path, LongCellsSheet, err)
			}
		}
	}
	if r.s, err = newStream(chosen.part); err != nil {
		return err
	}
	r.s.escapeText = r.meta[mapping.MetaFormulaEscape] != mapping.FormulaEscapeQuote
	for {
		row, cells, err := r.s.next()
		if err == io.EOF {
			return fmt.Errorf("%s sheet %q: no header row (the sheet is empty)", r.path, r.sheet)
		}
		if err == nil && r.s.bad != "" {
			err = fmt.Errorf("row %d: %s", row, r.s.bad)
		}
		if err != nil {
			return fmt.Errorf("%s sheet %q: %v", r.path, r.sheet, err)
		}
		if cells = trimTrailingEmpty(cells); len(cells) > 0 {
			for i, c := range cells {
				cells[i] = mapping.UnescapeFormula(c)
			}
			where := fmt.Sprintf("%s sheet %q row %d", r.path, r.sheet, row)
			if r.header, err = checkHeader(where, r.dropIndex(where, cells)); err != nil {
				return err
			}
			return nil
		}
	}
}

func chooseSheet(file string, sheets []xlsxSheet, want string) (xlsxSheet, error) {
	var names []string
	for _, s := range sheets {
		if s.name != MetaSheet {
			names = append(names, strconv.Quote(s.name))
		}
	}
	if want != "" {
		for _, s := range sheets {
			if s.name == want {
				return s, nil
			}
		}
		for _, s := range sheets {
			if headerKey(s.name) == headerKey(want) {
				return s, nil
			}
		}
		return xlsxSheet{}, fmt.Errorf("%s: no sheet named %q; its sheets are %s", file, want, strings.Join(names, ", "))
	}
	for _, s := range sheets {
		if !s.hidden && s.name != MetaSheet {
			return s, nil
		}
	}
	return xlsxSheet{}, fmt.Errorf("%s: no visible data sheet (sheets: %s)", file, strings.Join(names, ", "))
}

func readMeta(newStream func(string) (*sheetStream, error), part string) (map[string]string, error) {
	s, err := newStream(part)
	if err != nil {
		return nil, err
	}
	defer s.rc.Close()
	meta := map[string]string{}
	for {
		row, cells, err := s.next()
		if err == io.EOF {
			return meta, nil
		}
		if err != nil {
			return nil, err
		}
		if s.bad != "" {
			return nil, fmt.Errorf("row %d: %s", row, s.bad)
		}
		// A value longer than a cell holds continues in the cells after it.
		if len(cells) >= 2 && cells[0] != "" && !(cells[0] == "key" && cells[1] == "value") {
			meta[cells[0]] = strings.Join(cells[1:], "")
		}
	}
}

// resolvePart turns a relationship target into a zip entry name.
func resolvePart(dir, target string) string {
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(target, "/")
	}
	return path.Join(dir, target)
}

func readXMLPart(parts map[string]*zip.File, name string, v any) error {
	f, ok := parts[strings.ToLower(name)]
	if !ok {
		return fmt.Errorf("no %s", name)
	}
	if f.UncompressedSize64 > maxXMLPart {
		return fmt.Errorf("%s: refused: it expands to %d bytes, over the %d limit", name, f.UncompressedSize64, maxXMLPart)
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := xml.NewDecoder(rc).Decode(v); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	return nil
}

// readSharedStrings reads the shared string table: the text of each <si>,
// rich text runs joined, phonetic runs (<rPh>) left out. A string over
// Excel's cell limit is kept empty, its index in long.
func readSharedStrings(parts map[string]*zip.File, name string) (sst []string, long map[int]bool, err error) {
	f, ok := parts[strings.ToLower(name)]
	if !ok {
		return nil, nil, fmt.Errorf("no %s", name)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	lim := newXMLLimiter(rc)
	dec := xml.NewDecoder(lim)
	var buf []byte
	inT, inPh, over := false, false, false
	// Every string is held for the whole read: their total (with a string
	// header each) is bounded like a zip bomb's sheet.
	held, limit := int64(0), sharedTextLimit(f.CompressedSize64)
	for {
		cuts := lim.cuts
		tok, err := dec.RawToken()
		if err == io.EOF {
			return sst, long, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if _, text := tok.(xml.CharData); !text {
			lim.markupDone()
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "si":
				buf, over = buf[:0], false
			case "t":
				inT = !inPh
			case "rPh":
				inPh = true
			}
		case xml.CharData:
			if inT && !over {
				if over = lim.cuts != cuts || len(buf)+len(t) > maxCellSource; !over {
					buf = append(buf, t...)
				}
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "si":
				v := ""
				if !over {
					v = unescapeOOXML(string(buf))
				}
				if over || tooLong(v) {
					if long == nil {
						long = map[int]bool{}
					}
					long[len(sst)], v = true, ""
				}
				if held += int64(len(v)) + 16; held > limit {
					return nil, nil, fmt.Errorf("the shared strings table holds more than %d MiB of text (%d strings so far) in a %d KiB part: refused like a zip bomb; if the workbook is genuine, save it as CSV and import that",
						limit>>20, len(sst), f.CompressedSize64>>10)
				}
				sst = append(sst, v)
			case "t":
				inT = false
			case "rPh":
				inPh = false
			}
		}
	}
}

// unescapeOOXML decodes the _xHHHH_ escapes Excel writes for control
// characters ("_x000D_" is "\r"); "_x005F_" escapes an underscore.
func unescapeOOXML(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if i+7 <= len(s) && s[i] == '_' && s[i+1] == 'x' && s[i+6] == '_' {
			if n, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
				b.WriteRune(rune(n))
				i += 7
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

type cellKind uint8

const (
	kindNumber cellKind = iota
	kindDate
	kindTime
	kindDateTime
)

// builtinKinds are Excel's built-in date and time formats, including the
// Chinese locale's (27-36, 50-58).
var builtinKinds = map[int]cellKind{
	14: kindDate, 15: kindDate, 16: kindDate, 17: kindDate,
	18: kindTime, 19: kindTime, 20: kindTime, 21: kindTime, 22: kindDateTime,
	45: kindTime, 46: kindTime, 47: kindTime,
	27: kindDate, 28: kindDate, 29: kindDate, 30: kindDate, 31: kindDate, 36: kindDate,
	32: kindTime, 33: kindTime, 34: kindTime, 35: kindTime,
	50: kindDate, 51: kindDate, 52: kindDate, 53: kindDate, 54: kindDate, 57: kindDate, 58: kindDate,
	55: kindTime, 56: kindTime,
}

// cellKinds says, per cell style index, whether its number is a date or time.
func cellKinds(st xlsxStyles) []cellKind {
	custom := map[int]string{}
	for _, nf := range st.NumFmts {
		custom[nf.ID] = nf.Code
	}
	kinds := make([]cellKind, len(st.Xfs))
	for i, xf := range st.Xfs {
		if code, ok := custom[xf.NumFmtID]; ok {
			kinds[i] = formatKind(code)
		} else {
			kinds[i] = builtinKinds[xf.NumFmtID]
		}
	}
	return kinds
}

// formatKind classifies a number format code by the date and time tokens of
// its first section, outside quoted text, escapes and [brackets].
func formatKind(code string) cellKind {
	var b strings.Builder
	quoted, bracket := false, false
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case quoted:
			quoted = c != '"'
		case c == '"':
			quoted = true
		case bracket:
			if c == ']' {
				bracket = false
			} else if c == 'h' || c == 'H' || c == 's' || c == 'S' {
				b.WriteByte('h') // elapsed time: [h]:mm:ss
			}
		case c == '[':
			bracket = true
		case c == '\\' || c == '_' || c == '*':
			i++
		case c == ';':
			i = len(code)
		default:
			b.WriteByte(c)
		}
	}
	s := strings.ToLower(b.String())
	s = strings.NewReplacer("general", "", "am/pm", "", "a/p", "", "上午/下午", "").Replace(s)
	hasDate := strings.ContainsAny(s, "yd")
	hasTime := strings.ContainsAny(s, "hs")
	switch {
	case hasDate && hasTime:
		return kindDateTime
	case hasDate:
		return kindDate
	case hasTime:
		return kindTime
	case strings.Contains(s, "m") && !strings.ContainsAny(s, "0#?"):
		return kindDate // "mmm": a month name
	}
	return kindNumber
}

type sheetStream struct {
	rc       io.ReadCloser
	lim      *xmlLimiter
	dec      *xml.Decoder
	sst      []string
	sstLong  map[int]bool // shared strings over Excel's cell limit
	kinds    []cellKind
	date1904 bool
	// escapeText gives text cells in the escaped form of the text files
	// (mapping.EscapeFormula), which an import undoes: a workbook holds
	// text as it is, except those written with the escape already in.
	escapeText bool
	rowNum     int
	cells      []string
	done       bool
	bad        string // what is wrong with the row just returned, "" when nothing
}

// errCellTooLong is a cell over Excel's limit; its text is not kept.
var errCellTooLong = errors.New("cell too long")

// next returns the next row's number and cells (nil for a row without
// cells), io.EOF after the last row. A row with a cell over Excel's limit,
// or with too much text in all, comes back with s.bad saying so, without
// that text.
func (s *sheetStream) next() (int, []string, error) {
	if s.done {
		return 0, nil, io.EOF
	}
	var (
		inRow, inV, inIS, inT, inPh bool
		over                        bool // the cell is over the limit: its text is dropped
		formula, hasValue           bool // the cell has a formula, a saved value
		col, rowText                int
		typ                         string
		style                       int
		val                         []byte
	)
	s.cells, s.bad = nil, ""
	for {
		cuts := s.lim.cuts
		tok, err := s.dec.RawToken()
		if _, text := tok.(xml.CharData); !text && err == nil {
			s.lim.markupDone()
		}
		if err == io.EOF {
			s.done = true
			if inRow {
				return 0, nil, errors.New("the sheet XML ends inside a row")
			}
			return 0, nil, io.EOF
		}
		if err != nil {
			return 0, nil, fmt.Errorf("sheet XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "row":
				inRow, col = true, 0
				s.rowNum++
				if v := attr(t, "r"); v != "" {
					n, err := strconv.Atoi(v)
					if err != nil || n < s.rowNum || n > 1<<20 {
						return 0, nil, fmt.Errorf("row %d: bad row number %q", s.rowNum, v)
					}
					s.rowNum = n
				}
			case "c":
				col++
				if ref := attr(t, "r"); ref != "" {
					n, err := refColumn(ref)
					if err != nil {
						return 0, nil, fmt.Errorf("row %d: %v", s.rowNum, err)
					}
					col = n
				}
				if col > maxXLSXColumns {
					return 0, nil, fmt.Errorf("row %d: column %d is past Excel's last column", s.rowNum, col)
				}
				typ, style, val, over = attr(t, "t"), 0, val[:0], false
				formula, hasValue = false, false
				if v := attr(t, "s"); v != "" {
					style, _ = strconv.Atoi(v)
				}
			case "v":
				inV, hasValue = true, true
			case "f":
				formula = true
			case "is":
				inIS, hasValue = true, true
			case "t":
				inT = inIS && !inPh
			case "rPh":
				inPh = true
			}
		case xml.CharData:
			if (inV || inT) && !over {
				if over = s.lim.cuts != cuts || len(val)+len(t) > maxCellSource; !over {
					val = append(val, t...)
				}
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "v":
				inV = false
			case "is":
				inIS = false
			case "t":
				inT = false
			case "rPh":
				inPh = false
			case "c":
				if formula && !hasValue {
					// Written by a program that does not compute formulas;
					// read as empty, the cell would pass for a blank one.
					if s.bad == "" {
						s.bad = fmt.Sprintf("cell %s holds a formula with no saved value; open and save the file in Excel or LibreOffice, or paste the values", cellName(col, s.rowNum))
					}
					continue
				}
				v, err := "", errCellTooLong
				if !over {
					if v, err = s.value(typ, style, val); err == nil && tooLong(v) {
						err = errCellTooLong
					}
				}
				if err == errCellTooLong {
					if s.bad == "" {
						s.bad = fmt.Sprintf("cell %s holds more than Excel's limit of 32,767 characters", cellName(col, s.rowNum))
					}
					continue
				}
				if err != nil {
					return 0, nil, fmt.Errorf("row %d column %d: %v", s.rowNum, col, err)
				}
				if rowText += len(v); rowText > maxRowText {
					if s.bad == "" {
						s.bad = fmt.Sprintf("the row holds more than %d MiB of text (from cell %s on)", maxRowText>>20, cellName(col, s.rowNum))
					}
					continue
				}
				if s.escapeText && (typ == "s" || typ == "inlineStr" || typ == "str") {
					v = mapping.EscapeFormula(v)
				}
				if v != "" {
					for len(s.cells) < col {
						s.cells = append(s.cells, "")
					}
					s.cells[col-1] = v
				}
			case "row":
				return s.rowNum, s.cells, nil
			case "sheetData":
				s.done = true
				return 0, nil, io.EOF
			}
		}
	}
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// refColumn returns the 1-based column of a cell reference such as "AB12".
func refColumn(ref string) (int, error) {
	n := 0
	for i := 0; i < len(ref); i++ {
		c := ref[i] | 0x20
		if c < 'a' || c > 'z' {
			if i == 0 {
				break
			}
			return n, nil
		}
		n = n*26 + int(c-'a') + 1
		if n > maxXLSXColumns {
			break
		}
	}
	return 0, fmt.Errorf("bad cell reference %q", ref)
}

func (s *sheetStream) value(typ string, style int, raw []byte) (string, error) {
	v := string(raw)
	switch typ {
	case "s":
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || i < 0 || i >= len(s.sst) {
			return "", fmt.Errorf("bad shared string index %q", v)
		}
		if s.sstLong[i] {
			return "", errCellTooLong
		}
		return s.sst[i], nil
	case "inlineStr", "str":
		return unescapeOOXML(v), nil
	case "b":
		if v == "1" {
			return "TRUE", nil
		}
		return "FALSE", nil
	case "e":
		return v, nil
	case "d":
		return s.isoDate(v, style), nil
	}
	if v == "" {
		return "", nil
	}
	kind := kindNumber
	if style >= 0 && style < len(s.kinds) {
		kind = s.kinds[style]
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return v, nil
	}
	if kind != kindNumber {
		if t, ok := excelTime(f, s.date1904); ok {
			return formatKindTime(t, kind), nil
		}
	}
	return formatNumber(f), nil
}

// isoDate formats a t="d" cell (an ISO 8601 date-time) in our text forms.
func (s *sheetStream) isoDate(v string, style int) string {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02", "15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			kind := kindDateTime
			if style >= 0 && style < len(s.kinds) && s.kinds[style] != kindNumber {
				kind = s.kinds[style]
			}
			return formatKindTime(t, kind)
		}
	}
	return v
}

func formatKindTime(t time.Time, kind cellKind) string {
	switch kind {
	case kindDate:
		return t.Format("2006-01-02")
	case kindTime:
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04:05")
}

// excelTime converts a serial date, rounded to the second. In the 1900
// system serial 60 is the 29 February 1900 that never was.
func excelTime(serial float64, date1904 bool) (time.Time, bool) {
	if serial < 0 || serial > 2958466 { // after 9999-12-31
		return time.Time{}, false
	}
	days := math.Floor(serial)
	secs := math.Round((serial - days) * 86400)
	epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	switch {
	case date1904:
		epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	case days < 61:
		epoch = epoch.AddDate(0, 0, 1)
	}
	return epoch.AddDate(0, 0, int(days)).Add(time.Duration(secs) * time.Second), true
}

// formatNumber writes a number as its shortest decimal form after rounding to
// Excel's 15 significant digits, which removes binary float noise
// (13.329999999999998 -> 13.33), and never in exponent form.
func formatNumber(f float64) string {
	g, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 15, 64), 64)
	return strconv.FormatFloat(g, 'f', -1, 64)
}

// Header returns the column names, trimmed.
func (r *XLSXReader) Header() []string { return r.header }

// Sheet returns the name of the sheet being read.
func (r *XLSXReader) Sheet() string { return r.sheet }

// Meta returns the key/value rows of the _udesk_meta sheet (nil without one).
func (r *XLSXReader) Meta() map[string]string { return r.meta }

// Next returns the next non-empty row. A row with more cells than the header
// comes back with a *pipeline.RowError; a damaged sheet XML ends the read.
func (r *XLSXReader) Next(ctx context.Context) (pipeline.Record, error) {
	if r.closed {
		return pipeline.Record{}, errClosed
	}
	if err := ctxErr(ctx); err != nil {
		return pipeline.Record{}, err
	}
	for {
		row, cells, err := r.s.next()
		if err == io.EOF {
			return pipeline.Record{}, io.EOF
		}
		if err != nil {
			return pipeline.Record{}, fmt.Errorf("%s sheet %q: %v", r.path, r.sheet, err)
		}
		if len(cells) == 0 && r.s.bad == "" {
			continue
		}
		pos := pipeline.Position{File: r.path, Sheet: r.sheet, Row: row}
		rec := pipeline.Record{Pos: pos, Cells: cells}
		if r.s.bad != "" {
			return rec, &pipeline.RowError{Pos: pos, Err: errors.New(r.s.bad)}
		}
		for i, c := range cells {
			if strings.HasSuffix(c, longMarkerEnd) {
				if r.s.escapeText { // the long cells sheet holds the text as it is
					c = mapping.UnescapeFormula(c)
				}
				full, err := r.long.restore(c, cellName(i+1, row))
				if err != nil {
					re := &pipeline.RowError{Pos: pos, Err: err}
					if h := r.headerIndex(i); h >= 0 && h < len(r.header) {
						re.Column = r.header[h]
					}
					return rec, re
				}
				if r.s.escapeText {
					full = mapping.EscapeFormula(full)
				}
				cells[i] = full
			}
		}
		if rec.Cells, err = r.cells(pos, cells); err != nil {
			return rec, err
		}
		return rec, raggedError(pos, rec.Cells, len(r.header), false)
	}
}

// Close closes the workbook.
func (r *XLSXReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.s.rc.Close()
	return r.zr.Close()
}

// LongCellsSheet is the hidden sheet in which our exporter keeps the full
// text of cells longer than Excel's limit (see sinks.LongCellsSheet); the
// data cell holds the start of the text and mapping.TruncatedMarker.
const LongCellsSheet = mapping.LongCellsSheet

// longMarkerEnd is a cheap first test for mapping.TruncatedMarker.
const longMarkerEnd = "full text in sheet " + LongCellsSheet + "]"

// longCells are the LongCellsSheet rows of one data sheet.
type longCells struct {
	cells []longCell
	byRef map[string]int
}

type longCell struct {
	n    int // length in UTF-16 units
	text string
}

// longCellsSheetOf is the data sheet whose long cells apply to sheet: an
// originals sheet holds the same cut cells, at the same references, as the
// data sheet written with it.
func longCellsSheetOf(meta map[string]string, sheet string) string {
	data := strings.Split(meta[mapping.MetaDataSheets], ",")
	for i, o := range OriginalsSheets(meta) {
		if o == sheet && i < len(data) {
			return data[i]
		}
	}
	return sheet
}

// readLongCells reads the LongCellsSheet rows of the given data sheet:
// sheet, cell, column, length, then the text in pieces.
func readLongCells(newStream func(string) (*sheetStream, error), part, sheet string) (*longCells, error) {
	s, err := newStream(part)
	if err != nil {
		return nil, err
	}
	defer s.rc.Close()
	lc := &longCells{byRef: map[string]int{}}
	total := 0
	for {
		row, cells, err := s.next()
		if err == io.EOF {
			return lc, nil
		}
		if err != nil {
			return nil, err
		}
		if s.bad != "" {
			return nil, fmt.Errorf("row %d: %s", row, s.bad)
		}
		if len(cells) < 5 || cells[0] != sheet {
			continue
		}
		n, err := strconv.Atoi(cells[3])
		if err != nil {
			continue // the header row
		}
		text := strings.Join(cells[4:], "")
		if total += len(text); total > maxLongCellsText {
			return nil, fmt.Errorf("its texts exceed %d MiB", maxLongCellsText>>20)
		}
		lc.byRef[cells[1]] = len(lc.cells)
		lc.cells = append(lc.cells, longCell{n: n, text: text})
	}
}

// restore returns the full text of cell ref, whose text c the exporter cut:
// the long cell written for ref, or (the rows were sorted) the one text of
// that length starting with c's. Anything else is an error: a cut text is
// never imported as if it were whole.
func (lc *longCells) restore(c, ref string) (string, error) {
	start, n, cut := mapping.Truncated(c)
	if !cut {
		return c, nil
	}
	fits := func(l longCell) bool { return l.n == n && strings.HasPrefix(l.text, start) }
	if lc != nil {
		if k, ok := lc.byRef[ref]; ok && fits(lc.cells[k]) {
			return lc.cells[k].text, nil
		}
		found := -1
		for k, l := range lc.cells {
			if fits(l) {
				if found >= 0 && lc.cells[found].text != l.text {
					return "", fmt.Errorf("cell %s holds a text cut to Excel's limit by the export, and several texts in sheet %s could be its whole text: restore the cell as exported, or replace its text with one that fits in a cell", ref, LongCellsSheet)
				}
				found = k
			}
		}
		if found >= 0 {
			return lc.cells[found].text, nil
		}
	}
	return "", fmt.Errorf("cell %s holds a text cut to Excel's limit by the export (%d characters in all), and its whole text is not in sheet %s (was the cell edited?): restore the cell as exported, or replace its text with one that fits in a cell", ref, n, LongCellsSheet)
}
