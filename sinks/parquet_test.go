package sinks

import (
	"context"
	"fmt"
	"math/bits"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/klauspost/compress/snappy"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sources"
)

func fileTestParquetNames() []string {
	return []string{"id", "subject", "content", "status", "下拉列表字段", "复选框", "created_at", "日期", "amount", "count", "时间", RawValuesColumn}
}

func writeParquet(t *testing.T, rows []pipeline.Row, batch int) (string, pipeline.WriterStats) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.parquet")
	w, err := NewParquetWriter(path, fileTestSchema())
	if err != nil {
		t.Fatal(err)
	}
	for len(rows) > 0 {
		n := min(batch, len(rows))
		if err := w.WriteRows(rows[:n]); err != nil {
			t.Fatal(err)
		}
		rows = rows[n:]
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return path, w.(pipeline.StatsReporter).Stats()
}

// readParquet reads a file back with arrow's reader, one []any per row in
// the form sources.RowValue gives.
func readParquet(t *testing.T, path string) (*file.Reader, *arrow.Schema, [][]any) {
	t.Helper()
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdr.Close() })
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	rows := make([][]any, tbl.NumRows())
	for i := range rows {
		rows[i] = make([]any, tbl.NumCols())
	}
	for c := 0; c < int(tbl.NumCols()); c++ {
		r := 0
		for _, chunk := range tbl.Column(c).Data().Chunks() {
			for j := 0; j < chunk.Len(); j, r = j+1, r+1 {
				rows[r][c] = sources.RowValue(chunk, j)
			}
		}
	}
	return rdr, tbl.Schema(), rows
}

// fileTestParquetRows is fileTestRows as readParquet gives them back.
func fileTestParquetRows() [][]any {
	utc := func(y int, m time.Month, d, h, mi, s int) time.Time { return time.Date(y, m, d, h, mi, s, 0, time.UTC) }
	return [][]any{
		{int64(1), "打印机坏了", "第一行\r\n第二行\n第三行", "open", "选项 A0", []string{"a", "b"}, utc(2024, 3, 5, 1, 7, 30),
			utc(2024, 2, 29, 0, 0, 0), 1.1, int64(-42), "09:30:00", nil},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
		{int64(3), "=SUM(A1:A2)", "-5", "@cmd", nil, []string{}, nil, nil, 0.3, nil, nil, `{"日期":"2023-02-30","count":"12abc"}`},
		{int64(4), "'quoted", "\ttab", "+1", nil, []string{"=x"}, utc(1999, 12, 31, 15, 59, 59),
			utc(1970, 1, 1, 0, 0, 0), 1e21, int64(9007199254740993), nil, nil},
	}
}

// compareParquetRows reports every cell of got that differs from want
// (instants compare as instants).
func compareParquetRows(t *testing.T, got, want [][]any, names []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		for j := range want[i] {
			g, w := got[i][j], want[i][j]
			if gt, ok := g.(time.Time); ok {
				if wt, ok := w.(time.Time); ok && gt.Equal(wt) {
					continue
				}
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("row %d %s = %#v, want %#v", i+1, names[j], g, w)
			}
		}
	}
}

func TestParquetRoundTrip(t *testing.T) {
	path, stats := writeParquet(t, fileTestRows(), 100)
	if stats != (pipeline.WriterStats{Rows: 4, RawValues: 2}) {
		t.Errorf("Stats = %+v, want 4 rows, 2 raw values", stats)
	}
	rdr, sch, got := readParquet(t, path)

	wantTypes := []string{"int64", "utf8", "utf8", "utf8", "utf8", "list<element: utf8, nullable>",
		"timestamp[us, tz=UTC]", "date32", "float64", "int64", "time32[ms]", "utf8"}
	wantNames := fileTestParquetNames()
	for i, f := range sch.Fields() {
		if f.Name != wantNames[i] || f.Type.String() != wantTypes[i] {
			t.Errorf("field %d: %s %s, want %s %s", i, f.Name, f.Type, wantNames[i], wantTypes[i])
		}
	}
	compareParquetRows(t, got, fileTestParquetRows(), wantNames)
	kv := rdr.MetaData().KeyValueMetadata()
	for k, v := range fileTestSchema().Meta {
		if got := kv.FindValue(k); got == nil || *got != v {
			t.Errorf("key-value metadata %q = %v, want %q", k, got, v)
		}
	}
	if c, err := rdr.MetaData().RowGroup(0).ColumnChunk(0); err != nil || c.Compression() != compress.Codecs.Snappy {
		t.Errorf("column chunk %v, want snappy compression", err)
	}
}

func TestParquetRowGroups(t *testing.T) {
	defer func(c, n, b int) { parquetChunkRows, parquetRowGroupRows, parquetRowGroupBytes = c, n, b }(
		parquetChunkRows, parquetRowGroupRows, parquetRowGroupBytes)
	var rows []pipeline.Row
	for i := range 7 {
		r := fileTestRows()[i%4]
		r.Values = append([]any(nil), r.Values...)
		r.Values[colID] = int64(i)
		rows = append(rows, r)
	}
	// A text over the data page size, so that every chunk completes a page,
	// whose compressed size the byte limit counts.
	big := make([]pipeline.Row, len(rows))
	for i, r := range rows {
		big[i].Values = append([]any(nil), r.Values...)
		big[i].Values[colContent] = strings.Repeat("工单内容 ", 100_000)
	}
	for _, tc := range []struct {
		name               string
		rows               []pipeline.Row
		chunk, rgRows, max int
		want               int
	}{
		{"by rows", rows, 2, 3, 1 << 30, 3},         // 3+3+1
		{"by bytes", big, 2, 1000, 1, 4},            // every chunk of 2 rows passes the limit
		{"one group", big, 2, 1000, 1 << 30, 1},     //
		{"one chunk", rows, 1000, 1000, 1 << 30, 1}, // rows flushed on Commit
	} {
		t.Run(tc.name, func(t *testing.T) {
			parquetChunkRows, parquetRowGroupRows, parquetRowGroupBytes = tc.chunk, tc.rgRows, tc.max
			path, _ := writeParquet(t, tc.rows, 3)
			rdr, _, got := readParquet(t, path)
			if n := rdr.NumRowGroups(); n != tc.want {
				t.Errorf("%d row groups, want %d", n, tc.want)
			}
			if len(got) != 7 {
				t.Fatalf("read %d rows, want 7", len(got))
			}
			for i, r := range got {
				if r[colID] != int64(i) {
					t.Errorf("row %d id %v, want %d", i+1, r[colID], i)
				}
			}
		})
	}
}

func TestParquetReservedColumn(t *testing.T) {
	s := pipeline.Schema{Columns: []pipeline.Column{{Name: RawValuesColumn}}}
	if _, err := NewParquetWriter(filepath.Join(t.TempDir(), "a.parquet"), s); err == nil {
		t.Error("a column named _raw_values was accepted")
	}
}

// TestParquetTimeOfDay: a time field is Parquet's TIME (time of day) and the
// Parquet reader gives its text back; a text that is no time of day is kept
// as a raw value.
func TestParquetTimeOfDay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.parquet")
	schema := pipeline.Schema{Columns: []pipeline.Column{{Name: "id", Kind: pipeline.Int64}, {Name: "时间", Kind: pipeline.TimeOfDay}}}
	w, err := NewParquetWriter(path, schema)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRows([]pipeline.Row{
		{Values: []any{int64(1), "15:04:05"}},
		{Values: []any{int64(2), "25:00"}},
		{Values: []any{int64(3), nil}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	rdr, sch, got := readParquet(t, path)
	if typ := sch.Field(1).Type.String(); typ != "time32[ms]" {
		t.Errorf("type %s, want time32[ms]", typ)
	}
	if lt := rdr.MetaData().Schema.Column(1).LogicalType().String(); !strings.HasPrefix(lt, "Time(") {
		t.Errorf("logical type %s, want Time", lt)
	}
	want := [][]any{{int64(1), "15:04:05", nil}, {int64(2), nil, `{"时间":"25:00"}`}, {int64(3), nil, nil}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows %#v, want %#v", got, want)
	}
	r, err := sources.OpenParquet(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, cell := range []string{"15:04:05", "25:00", ""} {
		rec, err := r.Next(context.Background())
		if err != nil || rec.Cells[1] != cell {
			t.Errorf("read back %q (%v), want %q", rec.Cells, err, cell)
		}
	}
}

// TestParquetManyChunks writes thousands of rows in many chunks and row
// groups, with texts of every length, so that the builders' and column
// writers' buffers are reused again and again: every value must come back.
// Pages must be standard Snappy (as a strict decoder, like the reference
// C++ one that pyarrow and DuckDB use, reads them), and only the columns of
// repeated values dictionary-encoded.
func TestParquetManyChunks(t *testing.T) {
	defer func(c, n int) { parquetChunkRows, parquetRowGroupRows = c, n }(parquetChunkRows, parquetRowGroupRows)
	parquetChunkRows, parquetRowGroupRows = 64, 1000
	const n = 5000
	var rows []pipeline.Row
	var want [][]any
	for i := range n {
		r, w := fileTestRows()[i%4], fileTestParquetRows()[i%4]
		r.Values = append([]any(nil), r.Values...)
		subject := fmt.Sprintf("主题 %d %s", i, strings.Repeat("x", i%97))
		content := strings.Repeat("内容 "+strconv.Itoa(i), i%300)
		r.Values[colID], w[colID] = int64(i), int64(i)
		r.Values[colSubject], w[colSubject] = subject, subject
		r.Values[colContent], w[colContent] = content, content
		rows, want = append(rows, r), append(want, w)
	}
	path, _ := writeParquet(t, rows, 500)

	codec, err := compress.GetCodec(compress.Codecs.Snappy)
	if err != nil {
		t.Fatal(err)
	}
	strict := &strictSnappy{snappyCodec: codec.(snappyCodec)}
	compress.RegisterCodec(compress.Codecs.Snappy, strict)
	defer compress.RegisterCodec(compress.Codecs.Snappy, codec)
	rdr, _, got := readParquet(t, path)
	compareParquetRows(t, got, want, fileTestParquetNames())
	if strict.blocks == 0 {
		t.Error("no page was read by the strict Snappy decoder")
	}

	if rdr.NumRowGroups() != n/1000 {
		t.Errorf("%d row groups, want %d", rdr.NumRowGroups(), n/1000)
	}
	dict := map[int]bool{colStatus: true, colSelect: true, colCheckbox: true, colDate: true, colCount: true, colTime: true}
	for g := range rdr.NumRowGroups() {
		for c := range len(fileTestSchema().Columns) {
			cc, err := rdr.MetaData().RowGroup(g).ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			if cc.Compression() != compress.Codecs.Snappy {
				t.Errorf("row group %d column %d: %s compression, want snappy", g, c, cc.Compression())
			}
			if cc.HasDictionaryPage() != dict[c] {
				t.Errorf("row group %d column %d: dictionary %v, want %v", g, c, cc.HasDictionaryPage(), dict[c])
			}
		}
	}
}

// strictSnappy decodes with the standard Snappy block decoder, which refuses
// s2's extensions, and counts the blocks it decoded.
type strictSnappy struct {
	snappyCodec
	blocks int
}

func (s *strictSnappy) Decode(dst, src []byte) []byte {
	out, err := s.DecodeWithError(dst, src)
	if err != nil {
		panic(err)
	}
	return out
}

func (s *strictSnappy) DecodeWithError(dst, src []byte) ([]byte, error) {
	s.blocks++
	return snappy.DecodeStrict(dst, src)
}

// TestRecycler: a released buffer is handed out again, cleared, to a request
// of its size class; small buffers are not kept.
func TestRecycler(t *testing.T) {
	var r recycler
	b := r.Allocate(5000)
	if len(b) != 5000 || cap(b) != 8192 {
		t.Fatalf("Allocate(5000): len %d cap %d, want 5000 and 8192", len(b), cap(b))
	}
	b = r.Reallocate(8000, b) // within its capacity: the same buffer
	for i := range b {
		b[i] = 0xff
	}
	r.Free(b)
	c := r.Allocate(7000)
	if &c[0] != &b[0] {
		t.Error("the released buffer was not reused")
	}
	for i, x := range c[:cap(c)] {
		if x != 0 {
			t.Fatalf("reused buffer byte %d = %#x, want 0", i, x)
		}
	}
	if d := r.Allocate(9000); cap(d) != 16384 || &d[0] == &c[0] {
		t.Errorf("Allocate(9000): cap %d, want a new 16384-byte buffer", cap(d))
	}
	s := r.Allocate(2048)
	r.Free(s)
	if l := r.free[bits.Len(uint(cap(s)))-1]; len(l) != 0 {
		t.Error("a small buffer was kept")
	}
}
