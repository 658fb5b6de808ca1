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
	// Stdout receives the JSON lines of path "-" (the caller's standard
	// output: a library never takes os.Stdout itself).
	Stdout io.Writer
}

// NewWriter returns the writer for path's extension: .parquet, .xlsx, .csv or
// .jsonl (.ndjson). Path "-" writes JSON lines to opts.Stdout.
func NewWriter(path string, schema pipeline.Schema, opts Options) (pipeline.RowWriter, error) {
	if path == "-" {
		if opts.Stdout == nil {
			return nil, fmt.Errorf("sinks: output - (JSON lines on stdout) needs Options.Stdout")
		}
		return NewJSONLStreamWriter(opts.Stdout, schema)
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

// tempFile is an output being written beside its final path, and possibly
// a private copy of it beside the copy's final path (mirror).
type tempFile struct {
	f     *os.File
	final string
	// w buffers writes to f (and mirror).
	w      *bufio.Writer
	mirror *tempFile
}

// writebackBytes: after this many bytes written, the kernel is asked to
// start writing them to disk (startWriteback), so that the fsync at commit
// finds little left to write instead of the whole file: the commit is the
// part of an export nothing else overlaps.
const writebackBytes = 8 << 20

// fileWriter writes to one or two files, starting their writeback every
// writebackBytes.
type fileWriter struct {
	files   []*os.File
	off     int64 // bytes written
	flushed int64 // bytes whose writeback was started
}

func (w *fileWriter) Write(p []byte) (int, error) {
	for _, f := range w.files {
		if _, err := f.Write(p); err != nil {
			return 0, err
		}
	}
	w.off += int64(len(p))
	if w.off-w.flushed >= writebackBytes {
		for _, f := range w.files {
			startWriteback(f, w.flushed, w.off-w.flushed)
		}
		w.flushed = w.off
	}
	return len(p), nil
}

// createTemp creates ".<name>.tmp-<random>" in final's directory, so that the
// rename on commit stays within one file system and is atomic.
func createTemp(final string) (*tempFile, error) {
	f, err := openTemp(final)
	if err != nil {
		return nil, err
	}
	return &tempFile{f: f, final: final, w: bufio.NewWriterSize(&fileWriter{files: []*os.File{f}}, 256<<10)}, nil
}

// openTemp creates ".<name>.tmp-<random>" in final's directory.
func openTemp(final string) (*os.File, error) {
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
		return f, nil
	}
}

// createTempWithCopy is createTemp with every byte also written to a private
// (0600) temp file beside copyTo, put in place by commit before the file.
func createTempWithCopy(final, copyTo string) (*tempFile, error) {
	f, err := openTemp(final)
	if err != nil {
		return nil, err
	}
	t := &tempFile{f: f, final: final}
	mf, err := openTemp(copyTo)
	if err != nil {
		return nil, errors.Join(err, t.abortFile())
	}
	t.mirror = &tempFile{f: mf, final: copyTo}
	if err := mf.Chmod(0o600); err != nil {
		return nil, errors.Join(fmt.Errorf("sinks: %s: %w", copyTo, err), t.abort())
	}
	t.w = bufio.NewWriterSize(&fileWriter{files: []*os.File{f, mf}}, 256<<10)
	return t, nil
}

// commit flushes, fsyncs and renames the temp file to its final path, then
// fsyncs the directory so the rename survives a crash; a mirror is put in
// place first (the two fsynced at once).
func (t *tempFile) commit() error {
	if err := t.w.Flush(); err != nil {
		return errors.Join(fmt.Errorf("sinks: %s: %w", t.final, err), t.abort())
	}
	if t.mirror == nil {
		if err := t.durable(); err != nil {
			return err
		}
		return t.publish()
	}
	mirrored := make(chan error, 1)
	go func() { mirrored <- t.mirror.durable() }()
	err := t.durable()
	if merr := <-mirrored; merr != nil || err != nil {
		_ = os.Remove(t.f.Name())
		_ = os.Remove(t.mirror.f.Name())
		return errors.Join(merr, err)
	}
	if err := t.mirror.publish(); err != nil {
		_ = os.Remove(t.f.Name())
		return err
	}
	return t.publish()
}

// durable fsyncs and closes the (flushed) temp file, removed on failure.
func (t *tempFile) durable() error {
	err := t.f.Sync()
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(t.f.Name())
		return fmt.Errorf("sinks: %s: commit: %w", t.final, err)
	}
	return nil
}

// publish renames the durable temp file to its final path and fsyncs the
// directory so the rename survives a crash.
func (t *tempFile) publish() error {
	if err := os.Rename(t.f.Name(), t.final); err != nil {
		_ = os.Remove(t.f.Name())
		return fmt.Errorf("sinks: %s: commit: %w", t.final, err)
	}
	if err := pipeline.SyncDir(filepath.Dir(t.final)); err != nil {
		return fmt.Errorf("sinks: %s: commit: %w", t.final, err)
	}
	return nil
}

// abort closes and removes the temp file.
func (t *tempFile) abort() error {
	if t.mirror != nil {
		if err := t.mirror.abort(); err != nil {
			return errors.Join(err, t.mirror.abortFile())
		}
	}
	return t.abortFile()
}

func (t *tempFile) abortFile() error {
	cerr := t.f.Close()
	if err := os.Remove(t.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sinks: %s: remove temp file: %w", t.final, err)
	}
	if cerr != nil && !errors.Is(cerr, os.ErrClosed) {
		return fmt.Errorf("sinks: %s: %w", t.final, cerr)
	}
	return nil
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
