package sources

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// MetaOriginalsSheets is the _udesk_meta key that lists the hidden sheets
// holding each row as exported (joined with ","), in a workbook made for
// editing (see sinks.OriginalsSheet).
const MetaOriginalsSheets = mapping.MetaOriginalsSheets

// OriginalsSheets returns the originals sheets a workbook's meta lists; none
// for a workbook not made for editing.
func OriginalsSheets(meta map[string]string) []string {
	if meta[MetaOriginalsSheets] == "" {
		return nil
	}
	return strings.Split(meta[MetaOriginalsSheets], ",")
}

// OpenOriginals reads the rows an export kept as written: the given hidden
// sheets of an XLSX workbook one after the other, or, with no sheets, a CSV
// file (the copy an export keeps of a CSV output). The sheets must share
// one header.
func OpenOriginals(path string, sheets []string) (pipeline.RecordReader, error) {
	if len(sheets) == 0 {
		r, err := OpenCSV(path, CSVOptions{})
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	c := &chainReader{path: path, sheets: sheets}
	if err := c.open(); err != nil {
		return nil, err
	}
	c.header = c.cur.Header()
	return c, nil
}

// chainReader reads several sheets of one workbook as one.
type chainReader struct {
	path   string
	sheets []string
	cur    *XLSXReader
	header []string
}

func (c *chainReader) open() error {
	r, err := OpenXLSX(c.path, c.sheets[0])
	if err != nil {
		return err
	}
	if c.header != nil && strings.Join(r.Header(), "\x00") != strings.Join(c.header, "\x00") {
		r.Close()
		return fmt.Errorf("%s sheet %q: its header differs from sheet %q's", c.path, c.sheets[0], c.cur.Sheet())
	}
	if c.cur != nil {
		c.cur.Close()
	}
	c.cur, c.sheets = r, c.sheets[1:]
	return nil
}

func (c *chainReader) Header() []string { return c.header }

func (c *chainReader) Next(ctx context.Context) (pipeline.Record, error) {
	for {
		rec, err := c.cur.Next(ctx)
		if err != io.EOF || len(c.sheets) == 0 {
			return rec, err
		}
		if err := c.open(); err != nil {
			return pipeline.Record{}, err
		}
	}
}

func (c *chainReader) Close() error { return c.cur.Close() }
