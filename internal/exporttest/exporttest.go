// Package exporttest reads back what an export wrote, in every format, as
// one comparable table, and renders the simulator's tickets as an export
// must have written them: the tests of the export job and of the command
// line compare the two.
package exporttest

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/xuri/excelize/v2"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// Table is an output read back: the header, and per ticket (in file order)
// its cells in canonical text (see canon).
type Table struct {
	Header []string
	IDs    []int64
	Rows   map[int64][]string
}

// canon is a typed value in the one text form the tests compare: dates as
// 2006-01-02, timestamps as Unix seconds, lists joined with ",".
func canon(k pipeline.Kind, v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case time.Time:
		if k == pipeline.Date {
			return v.Format("2006-01-02")
		}
		return strconv.FormatInt(v.Unix(), 10)
	case []string:
		return strings.Join(v, ",")
	}
	panic(fmt.Sprintf("canon: %T", v))
}

// canonText reads a text cell as written by the CSV and JSON lines writers.
func canonText(k pipeline.Kind, s string) string {
	if k == pipeline.Timestamp {
		if t, err := time.Parse(mapping.TimestampLayout, s); err == nil {
			return strconv.FormatInt(t.Unix(), 10)
		}
	}
	return s
}

// Listed is the order an export of a listing writes tickets listed in the
// given order: the reverse, as it reads the listing from its last page.
func Listed(tickets []udesktest.Ticket) []udesktest.Ticket {
	r := slices.Clone(tickets)
	slices.Reverse(r)
	return r
}

// Expected renders the simulator's tickets with the catalog, as the export
// must have written them.
func Expected(t testing.TB, sim *udesktest.Server, opts mapping.ExportOptions, tickets []udesktest.Ticket) (pipeline.Schema, *Table) {
	t.Helper()
	c, err := udesk.NewClient(udesk.Config{BaseURL: sim.URL(), Signer: udesk.NewMD5Signer(sim.Secret())})
	if err != nil {
		t.Fatal(err)
	}
	fields, err := c.Fields(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	exp := mapping.NewExporter(mapping.NewCatalog(fields), opts)
	schema := exp.Schema()
	tb := &Table{Rows: map[int64][]string{}}
	for _, c := range schema.Columns {
		tb.Header = append(tb.Header, c.Name)
	}
	for _, st := range tickets {
		b, _ := json.Marshal(st)
		var ut udesk.Ticket
		if err := json.Unmarshal(b, &ut); err != nil {
			t.Fatal(err)
		}
		r := exp.Row(&ut)
		cells := make([]string, len(r.Values))
		for i, v := range r.Values {
			cells[i] = canon(schema.Columns[i].Kind, v)
			if raw, ok := r.Raw[i]; ok {
				cells[i] = raw
			}
		}
		tb.IDs = append(tb.IDs, st.ID)
		tb.Rows[st.ID] = cells
	}
	return schema, tb
}

func (tb *Table) add(t testing.TB, cells []string) {
	t.Helper()
	id, err := strconv.ParseInt(cells[0], 10, 64)
	if err != nil {
		t.Fatalf("id cell %q: %v", cells[0], err)
	}
	if _, dup := tb.Rows[id]; dup {
		t.Errorf("ticket %d written twice", id)
	}
	tb.IDs = append(tb.IDs, id)
	tb.Rows[id] = cells
}

// ReadCSV reads a CSV output (with or without its byte order mark).
func ReadCSV(t testing.TB, path string, schema pipeline.Schema) *Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if bom, _ := br.Peek(3); string(bom) == "\uFEFF" {
		br.Discard(3)
	}
	recs, err := csv.NewReader(br).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tb := &Table{Header: recs[0], Rows: map[int64][]string{}}
	for _, rec := range recs[1:] {
		for i := range rec {
			rec[i] = canonText(schema.Columns[i].Kind, mapping.UnescapeFormula(rec[i]))
		}
		tb.add(t, rec)
	}
	return tb
}

// ReadJSONL reads JSON lines, one ticket per line.
func ReadJSONL(t testing.TB, data []byte, schema pipeline.Schema) *Table {
	t.Helper()
	tb := &Table{Rows: map[int64][]string{}}
	for _, c := range schema.Columns {
		tb.Header = append(tb.Header, c.Name)
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		d := json.NewDecoder(strings.NewReader(sc.Text()))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if len(m) != len(schema.Columns) {
			t.Errorf("line has %d keys, want %d", len(m), len(schema.Columns))
		}
		cells := make([]string, len(schema.Columns))
		for i, c := range schema.Columns {
			switch v := m[c.Name].(type) {
			case nil:
			case string:
				cells[i] = canonText(c.Kind, v)
			case json.Number:
				cells[i] = v.String()
			case []any:
				var s []string
				for _, x := range v {
					s = append(s, x.(string))
				}
				cells[i] = strings.Join(s, ",")
			default:
				t.Fatalf("column %s: unexpected %T", c.Name, v)
			}
		}
		tb.add(t, cells)
	}
	return tb
}

// ReadParquet reads a Parquet output with the Arrow reader, raw values
// (the last column) in place of the cells they stand for.
func ReadParquet(t testing.TB, path string) *Table {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	tb := &Table{Rows: map[int64][]string{}}
	ncol := int(tbl.NumCols()) - 1 // the last one holds raw values
	if tbl.Schema().Field(ncol).Name != sinks.RawValuesColumn {
		t.Fatalf("last parquet column %q, want %q", tbl.Schema().Field(ncol).Name, sinks.RawValuesColumn)
	}
	for i := range ncol {
		tb.Header = append(tb.Header, tbl.Schema().Field(i).Name)
	}
	cols := make([][]string, ncol+1)
	for i := range ncol + 1 {
		for _, chunk := range tbl.Column(i).Data().Chunks() {
			for r := range chunk.Len() {
				cols[i] = append(cols[i], arrowCell(t, chunk, r))
			}
		}
	}
	for r := range int(tbl.NumRows()) {
		cells := make([]string, ncol)
		for i := range ncol {
			cells[i] = cols[i][r]
		}
		if raw := cols[ncol][r]; raw != "" {
			var m map[string]string
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				t.Fatal(err)
			}
			for i, h := range tb.Header {
				if v, ok := m[h]; ok {
					cells[i] = v
				}
			}
		}
		tb.add(t, cells)
	}
	return tb
}

func arrowCell(t testing.TB, a arrow.Array, r int) string {
	if a.IsNull(r) {
		return ""
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(r)
	case *array.Int64:
		return strconv.FormatInt(a.Value(r), 10)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(r), 'f', -1, 64)
	case *array.Date32:
		return a.Value(r).ToTime().Format("2006-01-02")
	case *array.Time32:
		// A time-of-day field is Parquet TIME(ms); read as text, like sources does.
		return a.Value(r).ToTime(a.DataType().(*arrow.Time32Type).Unit).Format("15:04:05")
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return strconv.FormatInt(a.Value(r).ToTime(unit).Unix(), 10)
	case *array.List:
		lo, hi := a.ValueOffsets(r)
		var s []string
		for j := lo; j < hi; j++ {
			s = append(s, arrowCell(t, a.ListValues(), int(j)))
		}
		return strings.Join(s, ",")
	}
	t.Fatalf("parquet: unexpected array %T", a)
	return ""
}

// ReadXLSX reads the data sheet's raw cell values: dates and timestamps are
// Excel serials (timestamps in the API's +0800 wall time).
func ReadXLSX(t testing.TB, path string, schema pipeline.Schema) *Table {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("Tickets", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	tb := &Table{Header: rows[0], Rows: map[int64][]string{}}
	cst := time.FixedZone("+0800", 8*3600)
	for _, row := range rows[1:] {
		cells := make([]string, len(schema.Columns))
		copy(cells, row)
		for i, c := range schema.Columns {
			s := cells[i] // text cells hold the API's value as it is, unescaped
			if serial, err := strconv.ParseFloat(s, 64); err == nil && (c.Kind == pipeline.Date || c.Kind == pipeline.Timestamp) {
				sec := int64(math.Round(serial * 86400))
				wall := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second)
				if c.Kind == pipeline.Date {
					s = wall.Format("2006-01-02")
				} else {
					y, m, d := wall.Date()
					h, mi, se := wall.Clock()
					s = strconv.FormatInt(time.Date(y, m, d, h, mi, se, 0, cst).Unix(), 10)
				}
			}
			cells[i] = s
		}
		tb.add(t, cells)
	}
	return tb
}

// Same compares an output with what was expected, ticket by ticket.
func Same(t testing.TB, what string, got, want *Table, crlf bool) {
	t.Helper()
	if !slices.Equal(got.Header, want.Header) {
		t.Errorf("%s: header %q\nwant %q", what, got.Header, want.Header)
	}
	if !slices.Equal(got.IDs, want.IDs) {
		t.Errorf("%s: %d tickets %v\nwant %d: %v", what, len(got.IDs), got.IDs, len(want.IDs), want.IDs)
		return
	}
	bad := 0
	for _, id := range want.IDs {
		for i, w := range want.Rows[id] {
			if crlf {
				w = strings.ReplaceAll(w, "\r\n", "\n") // encoding/csv reads a quoted CRLF as LF
			}
			if g := got.Rows[id][i]; g != w && bad < 5 {
				bad++
				t.Errorf("%s: ticket %d column %q = %q, want %q", what, id, want.Header[i], g, w)
			}
		}
	}
}
