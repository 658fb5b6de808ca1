package mapping

// needsEscape reports whether a spreadsheet would take a cell starting with b
// as a formula (= + - @ TAB CR), or whether b is the escape mark itself (').
func needsEscape(b byte) bool {
	switch b {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return true
	}
	return false
}

// EscapeFormula puts a ' before text that a spreadsheet would run as a
// formula (a leading = + - @ TAB or CR) and before text that already starts
// with ', so that UnescapeFormula(EscapeFormula(s)) == s for every s. It is
// the form of text in CSV files and in the cells the file readers give back
// (an XLSX reader escapes the text of a workbook that holds it as it is);
// an import undoes it.
func EscapeFormula(s string) string {
	if s != "" && needsEscape(s[0]) {
		return "'" + s
	}
	return s
}

// UnescapeFormula undoes EscapeFormula: a leading ' followed by one of
// = + - @ TAB CR ' is dropped. Any other text is returned unchanged, so a
// value that merely starts with ' keeps it.
func UnescapeFormula(s string) string {
	if len(s) >= 2 && s[0] == '\'' && needsEscape(s[1]) {
		return s[1:]
	}
	return s
}
