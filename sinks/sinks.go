// Package sinks writes the rows of an export to files: Parquet, XLSX, CSV and
// JSON lines. Every file writer writes to a temp file beside the final path
// (".<name>.tmp-<random>") and renames it into place on Commit, so a file
// never appears at its final path unless it is complete.
package sinks

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

// Options gathers the per-format options for NewWriter.
type Options struct {
	CSV  CSVOptions
	XLSX XLSXOptions
}

// NewWriter returns the writer for path's extension: .parquet, .xlsx, .csv or
// .jsonl (.ndjson). Path "-" writes JSON lines to standard output.
func NewWriter(path string, schema pipeline.Schema, opts Options) (pipeline.RowWriter, error) {
	if path == "-" {
		return NewJSONLWriter(path, schema)
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".parquet":
		return NewParquetWriter(path, schema)
	case ".xlsx":
		return NewXLSXWriter(path, schema, opts.XLSX)
	case ".csv":
		return NewCSVWriter(path, schema, opts.CSV)
	case ".jsonl", ".ndjson":
		return NewJSONLWriter(path, schema)
	default:
		return nil, fmt.Errorf("sinks: %s: unknown output format %q (want .parquet, .xlsx, .csv or .jsonl, or - for JSON lines on stdout)", path, ext)
	}
}

// Every file writer is a pipeline.RowWriter that reports its stats.
var (
	_ pipeline.RowWriter     = (*csvWriter)(nil)
	_ pipeline.RowWriter     = (*jsonlWriter)(nil)
	_ pipeline.RowWriter     = (*parquetWriter)(nil)
	_ pipeline.RowWriter     = (*xlsxWriter)(nil)
	_ pipeline.StatsReporter = (*csvWriter)(nil)
	_ pipeline.StatsReporter = (*jsonlWriter)(nil)
	_ pipeline.StatsReporter = (*parquetWriter)(nil)
	_ pipeline.StatsReporter = (*xlsxWriter)(nil)
)

// outputMode is the permission output files are created with, which the
// umask then narrows, as for any file a command writes: under umask 077 an
// export of ticket data is readable by its owner only. (State files, which
// may hold private data of a run, are 0600 whatever the umask.)
const outputMode = 0o666

// writerState guards a writer against use after Commit or Abort.
type writerState uint8

const (
	stateOpen writerState = iota
	stateCommitted
	stateAborted
)

func (s writerState) check(path string) error {
	switch s {
	case stateCommitted:
		return fmt.Errorf("sinks: %s: writer already committed", path)
	case stateAborted:
		return fmt.Errorf("sinks: %s: writer aborted", path)
	}
	return nil
}

// tempFile is an output being written beside its final path.
type tempFile struct {
	f     *os.File
	final string
	// w buffers writes to f.
	w *bufio.Writer
}

// createTemp creates ".<name>.tmp-<random>" in final's directory, so that the
// rename on commit stays within one file system and is atomic.
func createTemp(final string) (*tempFile, error) {
	dir, name := filepath.Split(final)
	if dir == "" {
		dir = "."
	}
	// Not os.CreateTemp: its files are 0600, and a chmod after it would
	// override the umask.
	for try := 0; ; try++ {
		tmp := filepath.Join(dir, "."+name+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, outputMode)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sinks: %s: create temp file: %w", final, err)
		}
		return &tempFile{f: f, final: final, w: bufio.NewWriterSize(f, 256<<10)}, nil
	}
}

// commit flushes, fsyncs and renames the temp file to its final path, then
// fsyncs the directory so the rename survives a crash.
func (t *tempFile) commit() error {
	err := t.w.Flush()
	if err == nil {
		err = t.f.Sync()
	}
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(t.f.Name(), t.final)
	}
	if err != nil {
		_ = os.Remove(t.f.Name())
		return fmt.Errorf("sinks: %s: commit: %w", t.final, err)
	}
	if err := syncDir(filepath.Dir(t.final)); err != nil {
		return fmt.Errorf("sinks: %s: commit: %w", t.final, err)
	}
	return nil
}

// copyTo commits a private (0600) copy of what was written so far to path,
// copied from file to file (copy_file_range on Linux: no pass through user
// memory).
func (t *tempFile) copyTo(path string) error {
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("sinks: %s: %w", t.final, err)
	}
	c, err := createTemp(path)
	if err != nil {
		return err
	}
	if _, err = t.f.Seek(0, io.SeekStart); err == nil {
		if err = c.f.Chmod(0o600); err == nil {
			_, err = c.f.ReadFrom(t.f)
		}
	}
	if err != nil {
		return errors.Join(fmt.Errorf("sinks: copying %s to %s: %w", t.final, path, err), c.abort())
	}
	return c.commit()
}

// abort closes and removes the temp file.
func (t *tempFile) abort() error {
	cerr := t.f.Close()
	if err := os.Remove(t.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sinks: %s: remove temp file: %w", t.final, err)
	}
	if cerr != nil && !errors.Is(cerr, os.ErrClosed) {
		return fmt.Errorf("sinks: %s: %w", t.final, cerr)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkSchema rejects an empty schema and duplicate column names, which would
// make a file's columns ambiguous to read back.
func checkSchema(path string, schema pipeline.Schema) error {
	if len(schema.Columns) == 0 {
		return fmt.Errorf("sinks: %s: schema has no columns", path)
	}
	seen := make(map[string]int, len(schema.Columns))
	for i, c := range schema.Columns {
		if j, ok := seen[c.Name]; ok {
			return fmt.Errorf("sinks: %s: duplicate column name %q (columns %d and %d)", path, c.Name, j+1, i+1)
		}
		seen[c.Name] = i
	}
	return nil
}

func kindName(k pipeline.Kind) string {
	switch k {
	case pipeline.String:
		return "string"
	case pipeline.Int64:
		return "int64"
	case pipeline.Float64:
		return "float64"
	case pipeline.Date:
		return "date"
	case pipeline.Timestamp:
		return "timestamp"
	case pipeline.TimeOfDay:
		return "time of day"
	case pipeline.StringList:
		return "string list"
	}
	return fmt.Sprintf("kind %d", k)
}

// checkValue reports a value whose Go type does not match its column's kind
// (a bug in whoever built the row: misfits belong in Row.Raw).
func checkValue(c pipeline.Column, v any) bool {
	switch v.(type) {
	case nil:
		return true
	case string:
		return c.Kind == pipeline.String || c.Kind == pipeline.TimeOfDay
	case int64:
		return c.Kind == pipeline.Int64
	case float64:
		return c.Kind == pipeline.Float64
	case time.Time:
		return c.Kind == pipeline.Date || c.Kind == pipeline.Timestamp
	case []string:
		return c.Kind == pipeline.StringList
	}
	return false
}

func valueError(path string, row int64, c pipeline.Column, v any) error {
	return fmt.Errorf("sinks: %s: row %d column %q: %s column holds a %T value", path, row, c.Name, kindName(c.Kind), v)
}

func checkRow(path string, row int64, schema pipeline.Schema, r pipeline.Row) error {
	if len(r.Values) != len(schema.Columns) {
		return fmt.Errorf("sinks: %s: row %d has %d values, want %d (one per column)", path, row, len(r.Values), len(schema.Columns))
	}
	for i, v := range r.Values {
		if !checkValue(schema.Columns[i], v) {
			return valueError(path, row, schema.Columns[i], v)
		}
	}
	for i := range r.Raw {
		if i < 0 || i >= len(schema.Columns) {
			return fmt.Errorf("sinks: %s: row %d: raw value for column index %d, schema has %d columns", path, row, i, len(schema.Columns))
		}
	}
	return nil
}

// utf16Len counts UTF-16 code units, the unit of Excel's cell length limit.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// splitUTF16 cuts s into pieces of at most max UTF-16 code units, at rune
// boundaries.
func splitUTF16(s string, max int) []string {
	var parts []string
	for s != "" {
		n, i := 0, 0
		for i < len(s) {
			r, size := utf8.DecodeRuneInString(s[i:])
			if n+utf16.RuneLen(r) > max {
				break
			}
			n += utf16.RuneLen(r)
			i += size
		}
		parts = append(parts, s[:i])
		s = s[i:]
	}
	return parts
}
