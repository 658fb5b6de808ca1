// Package sources reads input files (CSV, XLSX, JSON lines, Parquet) as
// records of strings with their positions, for import and convert.
package sources

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

// OpenOptions tunes how a file is read.
type OpenOptions struct {
	Sheet    string // XLSX: the sheet to read; "" = the first visible data sheet
	Encoding string // CSV: "" = detect, "utf-8", "gbk", "gb18030"
}

// Every file reader is a pipeline.RecordReader; those of formats that carry
// our exporter's metadata are MetaReaders.
var (
	_ pipeline.RecordReader = (*CSVReader)(nil)
	_ pipeline.RecordReader = (*JSONLReader)(nil)
	_ pipeline.RecordReader = (*ParquetReader)(nil)
	_ pipeline.RecordReader = (*XLSXReader)(nil)
	_ pipeline.RecordReader = (*chainReader)(nil)
	_ MetaReader            = (*ParquetReader)(nil)
	_ MetaReader            = (*XLSXReader)(nil)
)

// MetaReader is implemented by readers whose file carries key-value metadata
// written by our exporter (XLSX: the hidden _udesk_meta sheet; Parquet: the
// file's key-value metadata).
type MetaReader interface {
	Meta() map[string]string
}

// Open opens a file by its extension (.csv, .xlsx, .jsonl/.ndjson, .parquet).
// Its errors are one line, name the file and mean the file cannot be read at
// all; problems with single rows come from Next as *pipeline.RowError.
func Open(path string, opts OpenOptions) (pipeline.RecordReader, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if opts.Encoding != "" && ext != ".csv" {
		return nil, fmt.Errorf("%s: an encoding can only be chosen for CSV files", path)
	}
	if opts.Sheet != "" && ext != ".xlsx" {
		return nil, fmt.Errorf("%s: a sheet can only be chosen for XLSX files", path)
	}
	switch ext {
	case ".csv":
		return OpenCSV(path, CSVOptions{Encoding: opts.Encoding})
	case ".xlsx":
		return OpenXLSX(path, opts.Sheet)
	case ".jsonl", ".ndjson":
		return OpenJSONL(path)
	case ".parquet":
		return OpenParquet(path)
	}
	return nil, fmt.Errorf("%s: unsupported file type %q (expected .csv, .xlsx, .jsonl or .parquet)", path, ext)
}

// NoteReader is implemented by readers that can say something the caller
// should print about how they read a file (e.g. a column they ignore).
type NoteReader interface {
	Notes() []string
}

// pandasIndex is a file's first column when it has no name: the index
// pandas writes by default (to_csv, to_excel), whose cells are the row
// numbers 0, 1, 2... Such a column is not data; it is left out, and a row
// whose cell there is not a whole number is a row error (see indexCell).
type pandasIndex struct {
	on   bool
	note string
}

// dropIndex leaves out an unnamed first column of header (when the other
// columns have names) and returns the rest.
func (x *pandasIndex) dropIndex(path string, header []string) []string {
	if len(header) < 2 || strings.TrimSpace(header[0]) != "" {
		return header
	}
	for _, h := range header[1:] {
		if strings.TrimSpace(h) == "" {
			return header // checkHeader names the unnamed column
		}
	}
	x.on = true
	x.note = fmt.Sprintf("%s: column 1 has no name and is taken as row numbers (the index pandas writes with to_csv or to_excel): it is ignored", path)
	return header[1:]
}

// cells returns a row's cells without the index column, or a row error when
// the index cell is not a whole number (the column holds data after all).
func (x *pandasIndex) cells(pos pipeline.Position, cells []string) ([]string, error) {
	if !x.on || len(cells) == 0 {
		return cells, nil
	}
	if _, err := strconv.ParseInt(strings.TrimSpace(cells[0]), 10, 64); err != nil {
		return cells[1:], &pipeline.RowError{Pos: pos, Err: fmt.Errorf("column 1 has no name and was taken as the row numbers pandas writes, but holds %q here; name the column or remove it", cells[0])}
	}
	return cells[1:], nil
}

// headerIndex is the header column of a row's cell i, as the file has it.
func (x *pandasIndex) headerIndex(i int) int {
	if x.on {
		return i - 1
	}
	return i
}

// Notes says what the reader did that the caller should know.
func (x *pandasIndex) Notes() []string {
	if !x.on {
		return nil
	}
	return []string{x.note}
}

// checkHeader trims the header names and rejects empty or duplicate ones.
// Names are compared without case and spaces, as columns are matched.
func checkHeader(path string, header []string) ([]string, error) {
	if len(header) == 0 {
		return nil, fmt.Errorf("%s: no header row", path)
	}
	seen := make(map[string]int, len(header))
	out := make([]string, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, fmt.Errorf("%s: header column %d has no name", path, i+1)
		}
		key := headerKey(h)
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("%s: duplicate column names %q (column %d) and %q (column %d)", path, out[j], j+1, h, i+1)
		}
		seen[key] = i
		out[i] = h
	}
	return out, nil
}

func headerKey(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}

// trimTrailingEmpty drops empty cells at the end of a row (spreadsheet tools
// pad rows with them).
func trimTrailingEmpty(cells []string) []string {
	n := len(cells)
	for n > 0 && cells[n-1] == "" {
		n--
	}
	return cells[:n]
}

// CodeRaggedRow is the error code (errors.csv's error_code) of a row whose
// cell count differs from the header's: a *RaggedRowError.
const CodeRaggedRow = "ragged_row"

// RaggedRowError is a row with more or fewer cells than the header has
// columns. Its cells cannot be matched to columns with confidence (a cell
// left out shifts the ones after it), so the row is not imported.
type RaggedRowError struct {
	Cells, Columns int
}

func (e *RaggedRowError) Error() string {
	return fmt.Sprintf("the row has %d cells but the header has %d columns", e.Cells, e.Columns)
}

// raggedError reports, as a *pipeline.RowError, a row with more non-empty
// cells than the header has columns, or (short, for formats that write every
// cell of a row: CSV) with fewer cells. Empty cells at the end of a row do
// not count: spreadsheet tools pad rows with them, and an XLSX row leaves
// out its empty cells.
func raggedError(pos pipeline.Position, cells []string, width int, short bool) error {
	n := len(trimTrailingEmpty(cells))
	if n > width || short && len(cells) < width {
		if n <= width {
			n = len(cells)
		}
		return &pipeline.RowError{Pos: pos, Err: &RaggedRowError{Cells: n, Columns: width}}
	}
	return nil
}

var errClosed = errors.New("reader is closed")

// ctxErr is checked at each Next so a cancelled run stops reading promptly.
func ctxErr(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	return ctx.Err()
}
