package udesk

import (
	"bufio"
	"io"
	"strconv"
	"strings"

	"github.com/rivo/uniseg"
)

// WriteFieldsTable writes a field catalog for a reader: field_name, label,
// type and the select options (index=label), one field a line.
func WriteFieldsTable(w io.Writer, fields []Field) error {
	rows := [][]string{{"FIELD_NAME", "LABEL", "TYPE", "OPTIONS"}}
	for _, f := range fields {
		opts := make([]string, len(f.Options))
		for i, o := range f.Options {
			opts[i] = o.Index + "=" + o.Label
		}
		opt := strings.Join(opts, ", ")
		if f.Options == nil && len(f.RawOptions) > 0 && string(f.RawOptions) != "null" {
			opt = "(options not decodable; values pass through)"
		}
		rows = append(rows, []string{f.Name, f.Label, f.ContentType, opt})
	}
	return writeTable(w, rows)
}

// WriteFiltersTable writes ticket filters for a reader: id, name, whether
// active, permission and description, one filter a line.
func WriteFiltersTable(w io.Writer, filters []Filter) error {
	rows := [][]string{{"ID", "NAME", "ACTIVE", "PERMISSION", "DESCRIPTION"}}
	for _, f := range filters {
		rows = append(rows, []string{strconv.FormatInt(f.ID, 10), f.Name, strconv.FormatBool(f.Active), f.Permission, f.Description})
	}
	return writeTable(w, rows)
}

// writeTable writes rows as columns two spaces apart, padded by display
// width so that Chinese labels (two columns each on a terminal) line up.
func writeTable(w io.Writer, rows [][]string) error {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], uniseg.StringWidth(cell))
		}
	}
	bw := bufio.NewWriter(w)
	for _, r := range rows {
		var line strings.Builder
		for i, cell := range r {
			line.WriteString(cell)
			if i < len(r)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-uniseg.StringWidth(cell)+2))
			}
		}
		bw.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	return bw.Flush()
}
