package mapping

import (
	"fmt"
	"regexp"
	"strconv"
)

// Names and forms shared by the files an export writes (package sinks) and
// the readers that read them back (package sources): one definition each.
const (
	// WorkbookMetaSheet is the hidden key/value sheet of an exported
	// workbook (see sinks.MetaSheet for its keys).
	WorkbookMetaSheet = "_udesk_meta"
	// LongCellsSheet holds the full text of cells longer than a cell allows.
	LongCellsSheet = "_long_cells"
	// OriginalsSheet holds each row as exported, in an editable workbook.
	OriginalsSheet = "_udesk_originals"

	// Keys of WorkbookMetaSheet.
	MetaDataSheets      = "data_sheets"      // the data sheets, joined with ","
	MetaOriginalsSheets = "originals_sheets" // the originals sheets, joined with ","
	MetaTimestampOffset = "timestamp_offset" // the UTC offset of every datetime cell
	MetaFormulaEscape   = "formula_escape"   // FormulaEscapeQuote in older workbooks
	// FormulaEscapeQuote is MetaFormulaEscape's value in a workbook whose
	// text cells were written escaped (EscapeFormula). Newer workbooks hold
	// text as it is: a text cell is never run as a formula.
	FormulaEscapeQuote = "quote"

	// RawValuesColumn is the Parquet column holding, per row, a JSON object
	// of column name -> raw string for the values that did not fit their
	// column's type.
	RawValuesColumn = "_raw_values"

	// ExcelMaxCellChars is Excel's limit on a cell's text, in UTF-16 units.
	ExcelMaxCellChars = 32767
)

// TruncatedMarker ends a cell whose text of n UTF-16 units was cut to fit
// Excel's limit; the full text is in LongCellsSheet.
func TruncatedMarker(n int) string {
	return fmt.Sprintf(" …[truncated: %d characters, full text in sheet %s]", n, LongCellsSheet)
}

var truncatedRe = regexp.MustCompile(` …\[truncated: (\d+) characters, full text in sheet ` + LongCellsSheet + `\]$`)

// Truncated undoes TruncatedMarker: the start of the text the cell holds and
// the full text's length; ok false for a cell without the marker.
func Truncated(cell string) (start string, n int, ok bool) {
	m := truncatedRe.FindStringSubmatchIndex(cell)
	if m == nil {
		return cell, 0, false
	}
	n, _ = strconv.Atoi(cell[m[2]:m[3]])
	return cell[:m[0]], n, true
}
