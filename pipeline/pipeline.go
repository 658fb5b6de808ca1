// Package pipeline holds the contracts between the parts of a run: where a
// record came from, the typed rows an export writes, the raw records an import
// reads, and the interfaces of the readers and writers of files. It imports
// no format, no HTTP and nothing else of ours.
//
// The jobs' messages (errors, report notes, log lines) are written for the
// person at the udesk-etl command line and may name its flags (--fresh,
// -o FILE) and say "run the same command again": the command line is the
// jobs' first user, and a message that names the fix helps more than one
// naming an Options field, whose names follow the flags' (Fresh is
// --fresh). A Go program that wants other words matches the typed errors
// (ConfigError, ResumableError, LockedError) and writes its own. The jobs
// parse no command-line syntax, and write to no stream they are not given.
package pipeline

import (
	"context"
	"fmt"
)

// Position says where a record came from, for error messages and results.
type Position struct {
	File  string // the input file's path as the user gave it
	Sheet string // XLSX only
	Row   int    // 1-based line or row number in the file, the header being row 1 for CSV and XLSX; the line number for JSON lines; the 1-based record number for Parquet
}

func (p Position) String() string {
	s := p.File
	if p.Sheet != "" {
		s += fmt.Sprintf(" sheet %q", p.Sheet)
	}
	return s + fmt.Sprintf(" row %d", p.Row)
}

// Record is one input row as read from a file: its cells as strings, aligned
// with the reader's Header. Cells past the end of a short row are absent.
type Record struct {
	Pos   Position
	Cells []string
}

// RecordReader reads the rows of one input file. Next returns io.EOF after the
// last record. A malformed row is returned as an error of type *RowError (the
// reader can go on after it); any other error ends the read.
type RecordReader interface {
	Header() []string
	Next(ctx context.Context) (Record, error)
	Close() error
}

// RowError is a problem with one input row or cell: where it is and what is wrong.
type RowError struct {
	Pos    Position
	Column string // the column's header name, "" when the whole row is at fault
	Err    error
}

func (e *RowError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("%s column %q: %v", e.Pos, e.Column, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Pos, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// Kind is the type of an output column.
type Kind uint8

const (
	String     Kind = iota // string
	Int64                  // int64
	Float64                // float64
	Date                   // time.Time at midnight UTC of the calendar day
	Timestamp              // time.Time with its offset kept (Location fixed to the API's offset)
	TimeOfDay              // string "15:04:05"
	StringList             // []string (checkbox labels)
)

// Column describes one output column.
type Column struct {
	Name     string   // header as written (a field_label or field_name, or a ticket attribute such as "id")
	Field    string   // the ticket attribute or custom field_name it holds ("id", "subject", "TextField_1")
	Kind     Kind     //
	Options  []string // allowed values, for drop-down lists (select labels, status and priority names)
	ReadOnly bool     // the API does not let this column be edited
}

// Schema is the ordered set of columns of an export, and facts to record in
// the outputs' metadata (the field catalog, the run's parameters).
type Schema struct {
	Columns []Column
	Meta    map[string]string
}

// Row is one ticket as typed values, aligned with Schema.Columns. A value is
// nil (empty), string, int64, float64, time.Time or []string, as the column's
// Kind says. A wire value that did not fit its column's kind is nil in Values
// and kept verbatim in Raw under the column's index, never dropped.
type Row struct {
	Values []any
	Raw    map[int]string
}

// RowWriter writes rows to one output. Nothing appears at the output's final
// path until Commit; Abort removes whatever was written so far.
type RowWriter interface {
	WriteRows(rows []Row) error
	Commit() error
	Abort() error
}

// WriterStats is what a RowWriter may report after Commit, for the summary.
type WriterStats struct {
	Rows         int64 // rows written
	RawValues    int64 // values kept in raw form because they did not fit their column's kind
	TooLongCells int64 // cells over a format's limit (flagged, never cut silently)
}

// StatsReporter is implemented by writers that count what they wrote.
type StatsReporter interface {
	Stats() WriterStats
}
