package main

// Round-trip editing, the export side: an export keeps each row as it wrote
// it (an .xlsx output in a hidden sheet, a .csv output in a copy beside it,
// see sinks.CSVOriginalsPath); `import --update` of the edited file compares
// each row with its original (package ingest).

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
)

// withOriginals adds to a CSV output's writer a second writer of the same
// rows into csvOriginalsPath (mode 0600), committed with it, and the catalog
// snapshot. Other outputs are returned as they are.
func withOriginals(out string, w pipeline.RowWriter, schema pipeline.Schema, keep, bom bool) (pipeline.RowWriter, error) {
	if !keep || out == "-" || !strings.EqualFold(filepath.Ext(out), ".csv") {
		return w, nil
	}
	if err := pipeline.MakeStateDir(filepath.Dir(sinks.CSVOriginalsPath(out))); err != nil {
		_ = w.Abort()
		return nil, fmt.Errorf("%s: the folder for its original rows: %w", out, err)
	}
	path := sinks.CSVOriginalsPath(out)
	removeStaleTemps(path)
	removeStaleTemps(sinks.CSVCatalogPath(out))
	ow, err := sinks.NewCSVWriter(path, schema, sinks.CSVOptions{NoBOM: !bom, Private: true})
	if err != nil {
		_ = w.Abort()
		return nil, err
	}
	return &originalsTee{RowWriter: w, orig: ow, out: out, catalog: schema.Meta[mapping.MetaCatalog]}, nil
}

// originalsTee writes rows to an output and to its originals.
type originalsTee struct {
	pipeline.RowWriter
	orig    pipeline.RowWriter
	out     string
	catalog string
}

func (t *originalsTee) WriteRows(rows []pipeline.Row) error {
	if err := t.RowWriter.WriteRows(rows); err != nil {
		return err
	}
	return t.orig.WriteRows(rows)
}

// Commit commits the originals first: an output never appears without them.
func (t *originalsTee) Commit() error {
	if err := pipeline.WriteFileAtomic(sinks.CSVCatalogPath(t.out), []byte(t.catalog), 0o600); err != nil {
		_ = t.orig.Abort()
		_ = t.RowWriter.Abort()
		return fmt.Errorf("the catalog beside the original rows: %w", err)
	}
	if err := t.orig.Commit(); err != nil {
		_ = t.RowWriter.Abort()
		return fmt.Errorf("the original rows: %w", err)
	}
	return t.RowWriter.Commit()
}

func (t *originalsTee) Abort() error {
	return errors.Join(t.orig.Abort(), t.RowWriter.Abort())
}

func (t *originalsTee) Stats() pipeline.WriterStats {
	if sr, ok := t.RowWriter.(pipeline.StatsReporter); ok {
		return sr.Stats()
	}
	return pipeline.WriterStats{}
}

// originalsNotes tells the export's reader where the originals are.
func originalsNotes(sum *summary, outputs []string, keep bool) {
	if !keep {
		return
	}
	for _, out := range outputs {
		switch strings.ToLower(filepath.Ext(out)) {
		case ".xlsx":
			sum.Note("%s is ready for editing: import --update -i %s sends only what changed", out, out)
		case ".csv":
			sum.Note("the original rows of %s are kept in %s: import --update -i %s sends only what changed", out, sinks.CSVOriginalsPath(out), out)
		}
	}
}
