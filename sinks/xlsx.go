package sinks

import (
	"archive/zip"
	"bytes"
	"fmt"
	"github.com/klauspost/compress/flate"
	"io"
	"io/fs"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/width"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// Names of the hidden sheets of an exported workbook.
const (
	// MetaSheet holds Schema.Meta and facts an import needs to read the data
	// sheets back: one key per row in column A, its value in column B (a value
	// longer than a cell allows continues in C, D, ...: concatenate them).
	// Keys added by the writer: "data_sheets" (the data sheet names joined
	// with ","), "timestamp_offset" (the UTC offset, "+0800", of every
	// datetime cell, when there is one). Workbooks written before text cells
	// kept their value as it is have "formula_escape" = "quote": their text
	// cells that started with = + - @ TAB CR or ' have a leading '.
	MetaSheet = mapping.WorkbookMetaSheet
	// LongCellsSheet holds the full text of cells longer than Excel's limit.
	// Row 1 is a header; each further row is: sheet, cell (e.g. "C7"),
	// column name, length in UTF-16 units, then the text cut into pieces in
	// E, F, ...: concatenate them. The data cell itself holds the start of the
	// text followed by a visible marker.
	LongCellsSheet = mapping.LongCellsSheet
	// listsSheet holds drop-down lists too long to be written in a data
	// validation itself (255 characters at most).
	listsSheet = "_udesk_lists"
	// OriginalsSheet (with XLSXOptions.Originals) holds each row as written,
	// so that an import of the edited workbook can tell what changed: the
	// header, then every row's values as text cells in the CSV writer's forms
	// (mapping.CellText; a text cut to fit a cell is cut the same way here).
	// It is very hidden (Excel's menus cannot show it). A data sheet that
	// reaches the row limit is followed by "_udesk_originals 2"...; the
	// MetaSheet key "originals_sheets" lists them, joined with ",".
	OriginalsSheet = mapping.OriginalsSheet
)

// XLSXOptions tunes the XLSX writer.
type XLSXOptions struct {
	// SheetName names the first data sheet (default "Tickets"); a sheet that
	// reaches Excel's row limit is followed by "<SheetName> 2", "<SheetName> 3"...
	SheetName string
	// TmpDir is where the sheets' rows wait for the workbook to be zipped
	// (default: the system's temp directory).
	TmpDir string
	// Originals adds the OriginalsSheet: a workbook made for editing and
	// importing back with import --update.
	Originals bool
}

// Variables so that tests can lower them.
var (
	xlsxMaxRows         = 1048576 // rows per sheet, header included (Excel's limit)
	xlsxWidthSampleRows = 1000    // rows looked at to size the columns
)

const (
	xlsxMaxCellChars = mapping.ExcelMaxCellChars
	// klauspost's flate at BestSpeed: on the benchmark's 100k tickets the
	// writer does about 65k rows per CPU second against 40k at the default
	// level, for a file of 36 MB against 30.5 MB (levels 2 and 3: 35 MB,
	// slower). The standard library's level 1 took a half more time for
	// the same size.
	xlsxCompression = flate.BestSpeed
	xlsxMinWidth    = 6.0
	xlsxMaxWidth    = 60.0
)

type xlsxWriter struct {
	path   string
	schema pipeline.Schema
	opts   XLSXOptions
	tmp    *tempFile
	f      *excelize.File

	sw       *excelize.StreamWriter // current data sheet: its header row
	rows     *rowsXML               // its further rows
	sheets   []string               // data sheets so far
	sheetRow int                    // last row written on the current sheet
	parts    map[string]sheetPart   // worksheet part name -> what zipStream adds to it
	allRows  []*rowsXML             // every sheet's rows, for their temp files to go
	colNames []string               // column letters

	listCols map[int]bool // columns whose drop-down reads the lists sheet

	pending []pipeline.Row // rows held back to size the columns before the first sheet starts
	widths  []float64
	styles  xlsxStyles

	long    *excelize.StreamWriter // LongCellsSheet, made on the first long cell
	longRow int

	orig       *excelize.StreamWriter // current OriginalsSheet (Originals only)
	origRows   *rowsXML
	origSheets []string

	tsLoc *time.Location // the offset datetime cells are written in
	stats pipeline.WriterStats
	state writerState
}

type xlsxStyles struct {
	header, headerRO     int
	text, date, dateTime [2]int // [0] editable, [1] read-only
}

// NewXLSXWriter writes rows to an Excel workbook at path with excelize's
// stream writer: a header row of Column.Name (frozen, with an autofilter),
// numbers as numbers, dates and datetimes as date cells (datetimes as the
// wall-clock time in their own offset), lists joined with ",", text as it
// is (a text cell is never run as a formula, so "=1+1" needs no escape), read-only
// columns in grey with a note on their header, and a drop-down list on
// columns with Options. See MetaSheet and LongCellsSheet for the hidden
// sheets an import reads.
func NewXLSXWriter(path string, schema pipeline.Schema, opts XLSXOptions) (pipeline.RowWriter, error) {
	if err := checkSchema(path, schema); err != nil {
		return nil, err
	}
	if opts.SheetName == "" {
		opts.SheetName = "Tickets"
	}
	f := excelize.NewFile(excelize.Options{TmpDir: opts.TmpDir})
	w := &xlsxWriter{path: path, schema: schema, opts: opts, f: f, parts: map[string]sheetPart{}, listCols: map[int]bool{}}
	for i := range schema.Columns {
		col, _ := excelize.ColumnNumberToName(i + 1)
		w.colNames = append(w.colNames, col)
	}
	if err := w.makeStyles(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("sinks: %s: %w", path, err)
	}
	tmp, err := createTemp(path)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	w.tmp = tmp
	return w, nil
}

func (w *xlsxWriter) makeStyles() error {
	grey := excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"E7E6E6"}}
	dateFmt, dtFmt := "yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss"
	defs := []struct {
		dst   *int
		style excelize.Style
	}{
		{&w.styles.header, excelize.Style{Font: &excelize.Font{Bold: true}}},
		{&w.styles.headerRO, excelize.Style{Font: &excelize.Font{Bold: true}, Fill: grey}},
		{&w.styles.text[1], excelize.Style{Fill: grey}},
		{&w.styles.date[0], excelize.Style{CustomNumFmt: &dateFmt}},
		{&w.styles.date[1], excelize.Style{CustomNumFmt: &dateFmt, Fill: grey}},
		{&w.styles.dateTime[0], excelize.Style{CustomNumFmt: &dtFmt}},
		{&w.styles.dateTime[1], excelize.Style{CustomNumFmt: &dtFmt, Fill: grey}},
	}
	for _, d := range defs {
		id, err := w.f.NewStyle(&d.style)
		if err != nil {
			return err
		}
		*d.dst = id
	}
	return nil
}

func (w *xlsxWriter) WriteRows(rows []pipeline.Row) error {
	if err := w.state.check(w.path); err != nil {
		return err
	}
	for _, r := range rows {
		if err := checkRow(w.path, w.stats.Rows+int64(len(w.pending))+1, w.schema, r); err != nil {
			return err
		}
		if w.sw == nil {
			// Hold the first rows back: column widths must be set before
			// the first row is streamed. Copied, as callers may reuse rows.
			w.pending = append(w.pending, pipeline.Row{Values: append([]any(nil), r.Values...), Raw: copyRaw(r.Raw)})
			if len(w.pending) < xlsxWidthSampleRows {
				continue
			}
			if err := w.start(); err != nil {
				return err
			}
			continue
		}
		if err := w.writeRow(r); err != nil {
			return err
		}
	}
	return nil
}

func copyRaw(m map[int]string) map[int]string {
	if len(m) == 0 {
		return nil
	}
	c := make(map[int]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// start sizes the columns from the header and the rows held back, opens the
// first sheet and writes those rows.
func (w *xlsxWriter) start() error {
	w.widths = make([]float64, len(w.schema.Columns))
	for i, c := range w.schema.Columns {
		w.widths[i] = textWidth(c.Name) + 2 // room for the autofilter button
	}
	for _, r := range w.pending {
		for i, v := range r.Values {
			var s string
			if raw, ok := r.Raw[i]; ok {
				s = raw
			} else {
				s = w.textOf(w.schema.Columns[i].Kind, v)
			}
			w.widths[i] = max(w.widths[i], textWidth(s))
		}
	}
	for i := range w.widths {
		w.widths[i] = min(max(w.widths[i]+1, xlsxMinWidth), xlsxMaxWidth)
	}
	if err := w.openSheet(); err != nil {
		return err
	}
	pending := w.pending
	w.pending = nil
	for _, r := range pending {
		if err := w.writeRow(r); err != nil {
			return err
		}
	}
	return nil
}

// textOf is how a value shows in a cell, for sizing the column: its text
// (mapping.ValueText), a timestamp as the sheet displays it.
func (w *xlsxWriter) textOf(k pipeline.Kind, v any) string {
	if _, ok := v.(time.Time); ok && k != pipeline.Date {
		return "2006-01-02 15:04:05"
	}
	return mapping.ValueText(k, v)
}

// textWidth estimates a text's width in Excel's units (characters of the
// default font): East Asian wide characters count double; for multi-line text
// the longest line counts.
func textWidth(s string) float64 {
	best, n := 0, 0
	for _, r := range s {
		switch {
		case r == '\n':
			n = 0
			continue
		case r < 0x1100:
			n++
		default:
			switch width.LookupRune(r).Kind() {
			case width.EastAsianWide, width.EastAsianFullwidth:
				n += 2
			default:
				n++
			}
		}
		best = max(best, n)
	}
	return float64(best)
}

func (w *xlsxWriter) sheetName(n int) string {
	if n == 1 {
		return w.opts.SheetName
	}
	return fmt.Sprintf("%s %d", w.opts.SheetName, n)
}

// openSheet starts the next data sheet with its header row.
func (w *xlsxWriter) openSheet() error {
	name := w.sheetName(len(w.sheets) + 1)
	var err error
	if len(w.sheets) == 0 {
		err = w.f.SetSheetName(w.f.GetSheetName(0), name)
	} else {
		_, err = w.f.NewSheet(name)
	}
	if err != nil {
		return fmt.Errorf("sinks: %s: sheet %q: %w", w.path, name, err)
	}
	sw, err := w.f.NewStreamWriter(name)
	if err != nil {
		return fmt.Errorf("sinks: %s: sheet %q: %w", w.path, name, err)
	}
	if w.rows, err = w.newRows(); err != nil {
		return fmt.Errorf("sinks: %s: sheet %q: %w", w.path, name, err)
	}
	w.sw, w.sheetRow = sw, 0
	w.sheets = append(w.sheets, name)
	if err := w.prepareSheet(name); err != nil {
		return fmt.Errorf("sinks: %s: sheet %q: %w", w.path, name, err)
	}
	return nil
}

func (w *xlsxWriter) newRows() (*rowsXML, error) {
	r, err := newRowsXML(w.opts.TmpDir, w.colNames)
	if err != nil {
		return nil, err
	}
	w.allRows = append(w.allRows, r)
	return r, nil
}

func (w *xlsxWriter) prepareSheet(name string) error {
	if err := w.sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	// Last column first: excelize puts each new <col> before the others, and
	// Excel wants them in ascending order.
	for i := len(w.widths) - 1; i >= 0; i-- {
		if err := w.sw.SetColWidth(i+1, i+1, w.widths[i]); err != nil {
			return err
		}
	}
	header := make([]any, len(w.schema.Columns))
	for i, c := range w.schema.Columns {
		style := w.styles.header
		if c.ReadOnly {
			style = w.styles.headerRO
		}
		header[i] = excelize.Cell{StyleID: style, Value: c.Name}
	}
	if err := w.sw.SetRow("A1", header); err != nil {
		return err
	}
	w.sheetRow = 1
	if w.opts.Originals {
		if err := w.openOriginals(); err != nil {
			return err
		}
	}
	for i, c := range w.schema.Columns {
		col, _ := excelize.ColumnNumberToName(i + 1)
		if c.ReadOnly {
			text := "Read-only: Udesk does not let this column be changed; an import ignores edits to it."
			if w.opts.Originals {
				text = "Read-only: Udesk does not let this column be changed; import --update of this workbook reports an edit to it as an error."
			}
			err := w.f.AddComment(name, excelize.Comment{Cell: col + "1", Author: "udesk-etl", Text: text})
			if err != nil {
				return err
			}
		}
		if len(c.Options) > 0 {
			if err := w.addDropDown(name, i, col, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// addDropDown offers a column's options in a drop-down on every row below the
// header. A list that does not fit in the validation itself (255 characters,
// no commas or quotes in an option) is read from the hidden lists sheet, in
// the column of the same letter. A StringList column may hold several options
// joined with ",", so its drop-down only suggests.
func (w *xlsxWriter) addDropDown(sheet string, i int, col string, c pipeline.Column) error {
	dv := excelize.NewDataValidation(true)
	dv.Sqref = fmt.Sprintf("%s2:%s%d", col, col, excelize.TotalRows)
	inline := true
	for _, o := range c.Options {
		if strings.ContainsAny(o, `,"`) {
			inline = false
		}
	}
	if !inline || dv.SetDropList(c.Options) != nil {
		dv.SetSqrefDropList(fmt.Sprintf("'%s'!$%s$1:$%s$%d", listsSheet, col, col, len(c.Options)))
		w.listCols[i] = true
	}
	if c.Kind == pipeline.StringList {
		dv.ShowErrorMessage = false
	} else {
		dv.SetError(excelize.DataValidationErrorStyleStop, c.Name, "Choose a value from the list.")
	}
	return w.f.AddDataValidation(sheet, dv)
}

// closeSheet ends the current data sheet: the autofilter over its rows and the
// dimension it declares.
func (w *xlsxWriter) closeSheet() error {
	name := w.sheets[len(w.sheets)-1]
	ref := fmt.Sprintf("A1:%s%d", w.colNames[len(w.colNames)-1], w.sheetRow)
	if w.orig != nil {
		w.parts[fmt.Sprintf("xl/worksheets/sheet%d.xml", w.orig.SheetID)] = sheetPart{ref, w.origRows}
		if err := w.orig.Flush(); err != nil {
			return fmt.Errorf("sinks: %s: sheet %q: %w", w.path, w.origSheets[len(w.origSheets)-1], err)
		}
		w.orig, w.origRows = nil, nil
	}
	if err := w.f.AutoFilter(name, ref, nil); err != nil {
		return fmt.Errorf("sinks: %s: sheet %q: autofilter: %w", w.path, name, err)
	}
	w.parts[fmt.Sprintf("xl/worksheets/sheet%d.xml", w.sw.SheetID)] = sheetPart{ref, w.rows}
	if err := w.sw.Flush(); err != nil {
		return fmt.Errorf("sinks: %s: sheet %q: %w", w.path, name, err)
	}
	w.sw, w.rows = nil, nil
	return nil
}

func (w *xlsxWriter) writeRow(r pipeline.Row) error {
	if w.sheetRow >= xlsxMaxRows {
		if err := w.closeSheet(); err != nil {
			return err
		}
		if err := w.openSheet(); err != nil {
			return err
		}
	}
	row := w.sheetRow + 1
	w.rows.startRow(row)
	if w.orig != nil {
		w.origRows.startRow(row)
	}
	for i, v := range r.Values {
		c := w.schema.Columns[i]
		ro := 0
		if c.ReadOnly {
			ro = 1
		}
		if raw, ok := r.Raw[i]; ok {
			w.stats.RawValues++
			v = raw
			c.Kind = pipeline.String
		}
		out, style, err := w.cellValue(c, ro, v, i, row)
		if err != nil {
			return err
		}
		w.rows.cell(i, style, out)
		if w.orig != nil {
			w.origRows.cell(i, 0, originalText(c.Kind, v, out))
		}
	}
	if err := w.rows.endRow(); err != nil {
		return fmt.Errorf("sinks: %s: sheet %q row %d: %w", w.path, w.sheets[len(w.sheets)-1], row, err)
	}
	if w.orig != nil {
		if err := w.origRows.endRow(); err != nil {
			return fmt.Errorf("sinks: %s: sheet %q row %d: %w", w.path, w.origSheets[len(w.origSheets)-1], row, err)
		}
	}
	w.sheetRow = row
	w.stats.Rows++
	return nil
}

// cellValue is what the cell of v holds (nil, a string, an int64 or a
// float64) and its style.
func (w *xlsxWriter) cellValue(c pipeline.Column, ro int, v any, col, row int) (any, int, error) {
	var out any
	style := w.styles.text[ro]
	switch v := v.(type) {
	case nil:
		if ro == 0 {
			return nil, 0, nil
		}
	case string:
		s, err := w.text(v, col, row)
		if err != nil {
			return nil, 0, err
		}
		out = s
	case []string:
		s, err := w.text(strings.Join(v, ","), col, row)
		if err != nil {
			return nil, 0, err
		}
		out = s
	case int64:
		out = v
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			out = strconv.FormatFloat(v, 'f', -1, 64) // no such numbers in a sheet
		} else {
			out = v
		}
	case time.Time:
		if c.Kind == pipeline.Date {
			serial, ok := excelSerial(v)
			if !ok {
				out = v.Format(mapping.DateLayout)
				break
			}
			out, style = serial, w.styles.date[ro]
			break
		}
		if w.tsLoc == nil {
			_, off := v.Zone()
			w.tsLoc = time.FixedZone("", off)
		}
		serial, ok := excelSerial(v.In(w.tsLoc))
		if !ok {
			out = v.Format(mapping.TimestampLayout)
			break
		}
		out, style = serial, w.styles.dateTime[ro]
	}
	if out == "" {
		out = nil // no cell rather than an empty text
	}
	return out, style, nil
}

// excelEpoch is day 0 of Excel's 1900 date system (as Excel counts from
// 1900-03-01 on, after its phantom 1900-02-29).
var excelEpoch = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).Unix()

// excelSerial is t's wall-clock time, in t's own location, as an Excel date
// serial; false before 1900-03-01, where Excel's calendar is off by a day.
func excelSerial(t time.Time) (float64, bool) {
	y, m, d := t.Date()
	if y < 1900 || (y == 1900 && m < time.March) || y > 9999 {
		return 0, false
	}
	h, mi, s := t.Clock()
	wall := time.Date(y, m, d, h, mi, s, 0, time.UTC).Unix()
	days, sec := (wall-excelEpoch)/86400, (wall-excelEpoch)%86400
	if t.Nanosecond() != 0 {
		return float64(wall-excelEpoch)/86400 + float64(t.Nanosecond())/86400e9, true
	}
	// A cell holds at most 15 significant digits (cellFloat): often
	// a few microseconds before the second, which LibreOffice then shows
	// truncated, a second early. So the fraction is rounded up, exactly,
	// at that precision.
	scale := int64(1)
	for range 15 - len(strconv.FormatInt(days, 10)) {
		scale *= 10
	}
	frac := (sec*scale + 86400 - 1) / 86400
	return float64(days) + float64(frac)/float64(scale), true
}

// text returns s, or for a text over Excel's cell limit its start with a
// visible marker, the full text going to LongCellsSheet.
func (w *xlsxWriter) text(s string, col, row int) (string, error) {
	if len(s) <= xlsxMaxCellChars { // bytes >= UTF-16 units
		return s, nil
	}
	n := utf16Len(s)
	if n <= xlsxMaxCellChars {
		return s, nil
	}
	w.stats.TooLongCells++
	ref, _ := excelize.CoordinatesToCellName(col+1, row)
	sheet := w.sheets[len(w.sheets)-1]
	if err := w.addLongCell(sheet, ref, w.schema.Columns[col].Name, n, s); err != nil {
		return "", fmt.Errorf("sinks: %s: sheet %q cell %s: %w", w.path, sheet, ref, err)
	}
	marker := mapping.TruncatedMarker(n)
	return splitUTF16(s, xlsxMaxCellChars-utf16Len(marker))[0] + marker, nil
}

func (w *xlsxWriter) addLongCell(sheet, ref, column string, n int, s string) error {
	if w.long == nil {
		if _, err := w.f.NewSheet(LongCellsSheet); err != nil {
			return err
		}
		sw, err := w.f.NewStreamWriter(LongCellsSheet)
		if err != nil {
			return err
		}
		if err := sw.SetRow("A1", []any{"sheet", "cell", "column", "length", "text"}); err != nil {
			return err
		}
		w.long, w.longRow = sw, 1
	}
	w.longRow++
	vals := []any{sheet, ref, column, n}
	for _, p := range splitUTF16(s, xlsxMaxCellChars) {
		vals = append(vals, p)
	}
	cell, _ := excelize.CoordinatesToCellName(1, w.longRow)
	return w.long.SetRow(cell, vals)
}

func (w *xlsxWriter) Commit() error {
	if err := w.state.check(w.path); err != nil {
		return err
	}
	w.state = stateCommitted
	err := w.finish()
	w.closeRows()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sinks: %s: %w", w.path, cerr)
	}
	if err != nil {
		_ = w.tmp.abort()
		return err
	}
	return w.tmp.commit()
}

// finish ends the sheets, writes the hidden ones and streams the workbook's
// zip to the temp file (excelize's own SaveAs/WriteTo would build the whole
// zip in memory first).
func (w *xlsxWriter) finish() error {
	if w.sw == nil {
		if err := w.start(); err != nil {
			return err
		}
	}
	if err := w.closeSheet(); err != nil {
		return err
	}
	if w.long != nil {
		if err := w.long.Flush(); err != nil {
			return fmt.Errorf("sinks: %s: sheet %q: %w", w.path, LongCellsSheet, err)
		}
		if err := w.f.SetSheetVisible(LongCellsSheet, false); err != nil {
			return fmt.Errorf("sinks: %s: sheet %q: %w", w.path, LongCellsSheet, err)
		}
	}
	for _, name := range w.origSheets {
		if err := w.f.SetSheetVisible(name, false, true); err != nil {
			return fmt.Errorf("sinks: %s: sheet %q: %w", w.path, name, err)
		}
	}
	if err := w.writeLists(); err != nil {
		return fmt.Errorf("sinks: %s: sheet %q: %w", w.path, listsSheet, err)
	}
	if err := w.writeMeta(); err != nil {
		return fmt.Errorf("sinks: %s: sheet %q: %w", w.path, MetaSheet, err)
	}
	w.f.SetActiveSheet(0)
	zw := &zipStream{zw: zip.NewWriter(w.tmp.w), parts: w.parts}
	zw.zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, xlsxCompression)
	})
	w.f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zw })
	// The zip goes to the temp file through zw; what excelize hands back in
	// its own buffer is empty.
	if err := w.f.Write(io.Discard); err != nil {
		return fmt.Errorf("sinks: %s: %w", w.path, err)
	}
	if zw.err != nil {
		return fmt.Errorf("sinks: %s: %w", w.path, zw.err)
	}
	return nil
}

// writeLists puts the drop-down lists that did not fit in their validation on
// the hidden lists sheet, in the column of the same letter as theirs.
func (w *xlsxWriter) writeLists() error {
	made := false
	for i, c := range w.schema.Columns {
		if !w.listCols[i] {
			continue
		}
		if !made {
			if _, err := w.f.NewSheet(listsSheet); err != nil {
				return err
			}
			made = true
		}
		col, _ := excelize.ColumnNumberToName(i + 1)
		for j, o := range c.Options {
			if err := w.f.SetCellStr(listsSheet, fmt.Sprintf("%s%d", col, j+1), o); err != nil {
				return err
			}
		}
	}
	if !made {
		return nil
	}
	return w.f.SetSheetVisible(listsSheet, false)
}

func (w *xlsxWriter) writeMeta() error {
	meta := map[string]string{mapping.MetaDataSheets: strings.Join(w.sheets, ",")}
	if len(w.origSheets) > 0 {
		meta[mapping.MetaOriginalsSheets] = strings.Join(w.origSheets, ",")
	}
	if w.tsLoc != nil {
		meta[mapping.MetaTimestampOffset] = time.Date(2000, 1, 1, 0, 0, 0, 0, w.tsLoc).Format("-0700")
	}
	for k, v := range w.schema.Meta {
		if _, ok := meta[k]; !ok {
			meta[k] = v
		}
	}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if _, err := w.f.NewSheet(MetaSheet); err != nil {
		return err
	}
	if err := w.f.SetSheetRow(MetaSheet, "A1", &[]any{"key", "value"}); err != nil {
		return err
	}
	for i, k := range keys {
		vals := []any{k}
		for _, p := range splitUTF16(meta[k], xlsxMaxCellChars) {
			vals = append(vals, p)
		}
		if err := w.f.SetSheetRow(MetaSheet, fmt.Sprintf("A%d", i+2), &vals); err != nil {
			return err
		}
	}
	return w.f.SetSheetVisible(MetaSheet, false)
}

func (w *xlsxWriter) Abort() error {
	if w.state != stateOpen {
		return nil
	}
	w.state = stateAborted
	_ = w.f.Close() // removes excelize's own temp files
	w.closeRows()
	return w.tmp.abort()
}

func (w *xlsxWriter) closeRows() {
	for _, r := range w.allRows {
		r.close()
	}
	w.allRows = nil
}

func (w *xlsxWriter) Stats() pipeline.WriterStats { return w.stats }

// zipStream is the zip writer excelize writes the workbook through: entries
// go straight to the file, and each streamed sheet gets its rows (see
// rowsXML) and declares its real dimension (the stream writer writes its
// sheet's header, dimension included, before the rows are known).
type zipStream struct {
	zw    *zip.Writer
	parts map[string]sheetPart
	err   error
}

// sheetPart is what zipStream adds to a worksheet part.
type sheetPart struct {
	ref  string // dimension
	rows *rowsXML
}

func (z *zipStream) Create(name string) (io.Writer, error) {
	w, err := z.zw.Create(name)
	if err != nil {
		z.err = err
		return nil, err
	}
	if p, ok := z.parts[name]; ok {
		return &sheetPartWriter{w: w, part: p, z: z}, nil
	}
	return w, nil
}

func (z *zipStream) AddFS(fsys fs.FS) error { return z.zw.AddFS(fsys) }

func (z *zipStream) Close() error { return z.zw.Close() }

var dimensionRE = regexp.MustCompile(`<dimension ref="[^"]*"`)

// sheetPartWriter holds back a worksheet's start until the end of its
// sheetData (only the header row is in it), then writes it with the
// dimension rewritten and the rows put in, then passes everything through.
type sheetPartWriter struct {
	w    io.Writer
	part sheetPart
	z    *zipStream
	head []byte
	done bool
}

func (d *sheetPartWriter) Write(p []byte) (int, error) {
	if d.done {
		return d.w.Write(p)
	}
	d.head = append(d.head, p...)
	end := bytes.Index(d.head, []byte("</sheetData>"))
	if end < 0 && len(d.head) < 1<<20 {
		return len(p), nil
	}
	if end < 0 {
		d.z.err = fmt.Errorf("worksheet has no </sheetData> in its first MiB")
		return 0, d.z.err
	}
	d.done = true
	loc := dimensionRE.FindIndex(d.head[:end])
	if loc == nil {
		d.z.err = fmt.Errorf("worksheet has no <dimension> element to declare %s", d.part.ref)
		return 0, d.z.err
	}
	out := make([]byte, 0, end+len(d.part.ref)+20)
	out = append(out, d.head[:loc[0]]...)
	out = append(out, `<dimension ref="`+d.part.ref+`"`...)
	out = append(out, d.head[loc[1]:end]...)
	if _, err := d.w.Write(out); err != nil {
		d.z.err = err
		return 0, err
	}
	if err := d.part.rows.copyTo(d.w); err != nil {
		d.z.err = err
		return 0, err
	}
	if _, err := d.w.Write(d.head[end:]); err != nil {
		d.z.err = err
		return 0, err
	}
	d.head = nil
	return len(p), nil
}

// openOriginals starts the originals sheet of the data sheet just opened,
// with the same header.
func (w *xlsxWriter) openOriginals() error {
	name := OriginalsSheet
	if n := len(w.origSheets) + 1; n > 1 {
		name = fmt.Sprintf("%s %d", OriginalsSheet, n)
	}
	if _, err := w.f.NewSheet(name); err != nil {
		return err
	}
	sw, err := w.f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	header := make([]any, len(w.schema.Columns))
	for i, c := range w.schema.Columns {
		header[i] = c.Name
	}
	if err := sw.SetRow("A1", header); err != nil {
		return err
	}
	if w.origRows, err = w.newRows(); err != nil {
		return err
	}
	w.orig, w.origSheets = sw, append(w.origSheets, name)
	return nil
}

// originalText is a value as the originals sheet keeps it: the text the data
// cell holds (cut the same way when too long), numbers and dates in
// mapping.CellText's form. Always a text cell, so that it reads back as
// written.
func originalText(k pipeline.Kind, v any, cell any) any {
	var s string
	switch c := cell.(type) {
	case string:
		s = c // text, a list or a raw value, cut as in the data cell
	case nil:
		return nil
	default:
		s = mapping.CellText(k, v)
	}
	if s == "" {
		return nil
	}
	return s
}
