package sinks

import (
	"fmt"
	"sort"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/klauspost/compress/s2"

	"github.com/udesk-etl/udesk-etl/mapping"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// RawValuesColumn is the trailing Parquet column holding, per row, a JSON
// object of column name -> raw string for the values that did not fit their
// column's type (null when the row has none).
const RawValuesColumn = mapping.RawValuesColumn

// Rows are built into arrow arrays a chunk at a time and handed to a buffered
// row group, which keeps them encoded and compressed; a row group is written
// out when it reaches either limit. Memory so holds one chunk of arrays and
// one compressed row group whatever the number of rows. Variables so that
// tests can lower them.
var (
	parquetChunkRows     = 4096
	parquetRowGroupRows  = 32 * 1024 // an export of 100k tickets peaks at 148 MB of RSS with 64Ki, 122 MB with this, 108 MB with 16Ki; files 0.5% larger, no slower
	parquetRowGroupBytes = 32 << 20  // compressed bytes of the row group
)

// parquetPageBytes is the size of a data page before compression. Pages of
// 256 KiB rather than arrow-go's 1 MiB: the column writers take each page's
// buffer from a pool that drops its buffers at every garbage collection and
// zeroes them on release, both in proportion to the buffers' size. On
// BenchmarkParquetWriter it allocated 17% fewer bytes, for +14% rows per CPU
// second (not beyond the shared machine's noise; 4 MiB pages measured -12%)
// and files 0.4% larger.
const parquetPageBytes = 256 << 10

// parquetCodec: snappy measured 1.2x faster than zstd here (88k vs 74k rows
// per CPU second on the benchmark's tickets) with a third less heap; zstd's
// files were 25% smaller.
var parquetCodec = compress.Codecs.Snappy

// fastSnappy is arrow-go's Snappy codec with s2's fast Snappy encoder in
// place of the "better" one that codec uses (klauspost's snappy.Encode). The
// output is standard Snappy; decoding is unchanged. On BenchmarkParquetWriter's
// tickets compression took 0.10 s of CPU per 100k rows instead of 0.16-0.21 s
// (the writer's largest single cost), for files 5.7% larger.
type fastSnappy struct{ snappyCodec }

// snappyCodec is what arrow-go's Snappy codec implements; fastSnappy keeps
// all of it (error-returning decode, streams) but Encode.
type snappyCodec interface {
	compress.Codec
	compress.ErrorCodec
	compress.StreamingCodec
}

func (fastSnappy) Encode(dst, src []byte) []byte             { return s2.EncodeSnappy(dst, src) }
func (fastSnappy) EncodeLevel(dst, src []byte, _ int) []byte { return s2.EncodeSnappy(dst, src) }

// The codec is chosen by arrow-go from a process-wide registry by
// compression kind only, so it is replaced there, once, before any writer
// exists.
func init() {
	c, err := compress.GetCodec(compress.Codecs.Snappy)
	if err != nil {
		panic(err) // arrow-go registers Snappy in its own init
	}
	compress.RegisterCodec(compress.Codecs.Snappy, fastSnappy{c.(snappyCodec)})
}

type parquetWriter struct {
	path    string
	schema  pipeline.Schema
	tmp     *tempFile
	fw      *pqarrow.FileWriter
	rb      *array.RecordBuilder // reused for every chunk
	builder []array.Builder
	raw     *array.StringBuilder
	rawJSON []byte
	rows    int  // rows in the chunk being built
	newRG   bool // start a new row group before the next chunk
	stats   pipeline.WriterStats
	state   writerState
}

// NewParquetWriter writes rows to a Parquet file at path, snappy-compressed,
// in row groups of at most 32Ki rows or 32 MiB compressed. Column types follow
// Column.Kind: Int64 -> int64, Float64 -> double, Date -> DATE, Timestamp ->
// timestamp(us, adjusted to UTC: the instant is kept, the offset is not),
// TimeOfDay -> TIME(ms) (time of day), StringList -> list<string>,
// String -> string. A TimeOfDay text that is not a time of day is kept as a
// raw value. A trailing
// string column RawValuesColumn holds the raw values of a row. Schema.Meta is
// written to the file's key-value metadata.
func NewParquetWriter(path string, schema pipeline.Schema) (pipeline.RowWriter, error) {
	if err := checkSchema(path, schema); err != nil {
		return nil, err
	}
	fields := make([]arrow.Field, 0, len(schema.Columns)+1)
	for _, c := range schema.Columns {
		if c.Name == RawValuesColumn {
			return nil, fmt.Errorf("sinks: %s: column name %q is reserved for raw values", path, c.Name)
		}
		fields = append(fields, arrow.Field{Name: c.Name, Type: arrowType(c.Kind), Nullable: true})
	}
	fields = append(fields, arrow.Field{Name: RawValuesColumn, Type: arrow.BinaryTypes.String, Nullable: true})

	keys := make([]string, 0, len(schema.Meta))
	for k := range schema.Meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	values := make([]string, len(keys))
	for i, k := range keys {
		values[i] = schema.Meta[k]
	}
	meta := arrow.NewMetadata(keys, values)
	asch := arrow.NewSchema(fields, &meta)

	tmp, err := createTemp(path)
	if err != nil {
		return nil, err
	}
	props := []parquet.WriterProperty{
		parquet.WithCompression(parquetCodec),
		parquet.WithMaxRowGroupLength(int64(parquetRowGroupRows)),
		parquet.WithCreatedBy("udesk-etl"),
		parquet.WithDataPageSize(parquetPageBytes),
	}
	for _, c := range schema.Columns {
		if !parquetDictionary(c) {
			props = append(props, parquet.WithDictionaryFor(c.Name, false))
		}
	}
	// tmp.w is a *bufio.Writer, not an io.Closer, so closing the file writer
	// leaves the file open for the fsync in Commit.
	fw, err := pqarrow.NewFileWriter(asch, tmp.w, parquet.NewWriterProperties(props...), pqarrow.NewArrowWriterProperties())
	if err != nil {
		_ = tmp.abort()
		return nil, fmt.Errorf("sinks: %s: %w", path, err)
	}
	// Only the builders recycle their buffers: the column writers'
	// in-memory row group grows by doubling, and recycling those buffers
	// too kept every size it passed through (+40 MiB peak RSS) for no
	// further gain.
	rb := array.NewRecordBuilder(&recycler{}, asch)
	w := &parquetWriter{path: path, schema: schema, tmp: tmp, fw: fw, rb: rb, builder: rb.Fields()}
	w.raw = rb.Field(len(schema.Columns)).(*array.StringBuilder)
	return w, nil
}

// parquetDictionary says whether column c is dictionary-encoded: only
// columns whose values repeat from ticket to ticket. Mostly unique values
// (ids, instants, amounts, free text, a customer's email and phone) would
// only cost time and memory in the dictionary's hash table until the writer
// gives up on it at 1 MiB of dictionary, which free text reaches within each
// row group. On BenchmarkParquetWriter's tickets the dictionaries' hashing
// took 0.08-0.10 s of CPU per 100k rows instead of 0.18-0.28 s.
func parquetDictionary(c pipeline.Column) bool {
	switch {
	case len(c.Options) > 0: // drop-down lists, status, priority
		return true
	case c.Field == "id", c.Kind == pipeline.Timestamp, c.Kind == pipeline.Float64:
		return false
	case c.Kind == pipeline.String:
		return repeatedTextAttrs[c.Field]
	}
	return true // ids of agents and groups, whole numbers, days, times of day
}

// repeatedTextAttrs are the ticket attributes of kind String whose values
// come from a short list (channels, agents, groups); other text columns are
// free text.
var repeatedTextAttrs = map[string]bool{
	"content_type": true, "platform": true, "user": true, "assignee": true, "user_group_name": true, "replied_by": true,
}

func arrowType(k pipeline.Kind) arrow.DataType {
	switch k {
	case pipeline.Int64:
		return arrow.PrimitiveTypes.Int64
	case pipeline.Float64:
		return arrow.PrimitiveTypes.Float64
	case pipeline.Date:
		return arrow.FixedWidthTypes.Date32
	case pipeline.Timestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	case pipeline.TimeOfDay:
		return arrow.FixedWidthTypes.Time32ms
	case pipeline.StringList:
		return arrow.ListOf(arrow.BinaryTypes.String)
	}
	return arrow.BinaryTypes.String
}

func (w *parquetWriter) WriteRows(rows []pipeline.Row) error {
	if err := w.state.check(w.path); err != nil {
		return err
	}
	for _, r := range rows {
		if err := checkRow(w.path, w.stats.Rows+1, w.schema, r); err != nil {
			return err
		}
		raw := r.Raw
		for i, v := range r.Values {
			if !w.appendValue(i, v) {
				raw = withRaw(raw, i, v.(string))
			}
		}
		w.appendRaw(raw)
		w.rows++
		w.stats.Rows++
		if w.rows >= parquetChunkRows {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendValue appends v to column i; false when v is a text its column's
// type cannot hold (a null is appended: the text belongs in the raw values).
func (w *parquetWriter) appendValue(i int, v any) bool {
	switch b := w.builder[i].(type) {
	case *array.Int64Builder:
		if x, ok := v.(int64); ok {
			b.Append(x)
			return true
		}
	case *array.Float64Builder:
		if x, ok := v.(float64); ok {
			b.Append(x)
			return true
		}
	case *array.Date32Builder:
		if t, ok := v.(time.Time); ok {
			b.Append(date32(t))
			return true
		}
	case *array.TimestampBuilder:
		if t, ok := v.(time.Time); ok {
			b.Append(arrow.Timestamp(t.UnixMicro()))
			return true
		}
	case *array.Time32Builder:
		if s, ok := v.(string); ok {
			t, err := time.Parse(mapping.TimeLayout, s)
			if err != nil {
				b.AppendNull()
				return false
			}
			b.Append(arrow.Time32(t.Hour()*3600_000 + t.Minute()*60_000 + t.Second()*1000))
			return true
		}
	case *array.StringBuilder:
		if s, ok := v.(string); ok {
			b.Append(s)
			return true
		}
	case *array.ListBuilder:
		if l, ok := v.([]string); ok {
			b.Append(true)
			vb := b.ValueBuilder().(*array.StringBuilder)
			for _, s := range l {
				vb.Append(s)
			}
			return true
		}
	}
	w.builder[i].AppendNull() // nil: checkRow has rejected every mismatched type
	return true
}

// withRaw returns raw with column i's text added, copying it so that the
// caller's row is left as it was.
func withRaw(raw map[int]string, i int, s string) map[int]string {
	out := make(map[int]string, len(raw)+1)
	for k, v := range raw {
		out[k] = v
	}
	out[i] = s
	return out
}

// date32 is the calendar day of t (as written, whatever its location) in days
// since 1970-01-01.
func date32(t time.Time) arrow.Date32 {
	y, m, d := t.Date()
	return arrow.Date32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// appendRaw writes the row's raw values as a JSON object in column order.
func (w *parquetWriter) appendRaw(raw map[int]string) {
	if len(raw) == 0 {
		w.raw.AppendNull()
		return
	}
	w.rawJSON = append(w.rawJSON[:0], '{')
	for i, c := range w.schema.Columns {
		s, ok := raw[i]
		if !ok {
			continue
		}
		if len(w.rawJSON) > 1 {
			w.rawJSON = append(w.rawJSON, ',')
		}
		w.rawJSON = appendJSONString(w.rawJSON, c.Name)
		w.rawJSON = append(w.rawJSON, ':')
		w.rawJSON = appendJSONString(w.rawJSON, s)
		w.stats.RawValues++
	}
	w.rawJSON = append(w.rawJSON, '}')
	w.raw.BinaryBuilder.Append(w.rawJSON)
}

// flush hands the chunk built so far to the current row group, and ends the
// row group when it is big enough. (The file writer itself starts a new row
// group at parquetRowGroupRows.)
func (w *parquetWriter) flush() error {
	if w.rows == 0 {
		return nil
	}
	rec := w.rb.NewRecordBatch()
	defer rec.Release()
	w.rows = 0
	if w.newRG {
		if err := w.fw.NewBufferedRowGroupChecked(); err != nil {
			return fmt.Errorf("sinks: %s: write row group: %w", w.path, err)
		}
		w.newRG = false
	}
	if err := w.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("sinks: %s: write row group: %w", w.path, err)
	}
	// Started lazily so that the file never ends with an empty row group.
	w.newRG = w.fw.RowGroupTotalCompressedBytes() >= int64(parquetRowGroupBytes)
	return nil
}

func (w *parquetWriter) Commit() error {
	if err := w.state.check(w.path); err != nil {
		return err
	}
	w.state = stateCommitted
	defer w.rb.Release()
	err := w.flush()
	if err == nil {
		if err = w.fw.Close(); err != nil {
			err = fmt.Errorf("sinks: %s: %w", w.path, err)
		}
	}
	if err != nil {
		_ = w.tmp.abort()
		return err
	}
	return w.tmp.commit()
}

func (w *parquetWriter) Abort() error {
	if w.state != stateOpen {
		return nil
	}
	w.state = stateAborted
	w.rb.Release()
	return w.tmp.abort()
}

func (w *parquetWriter) Stats() pipeline.WriterStats { return w.stats }
