package sources

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/udesk-etl/udesk-etl/mapping"
)

// RowValue is value i of an Arrow column read from one of our Parquet files
// in the Go form of pipeline.Row, the form the Parquet writer was given:
// int64, float64, string, time.Time (a date at midnight UTC, an instant in
// UTC), []string for a list, a time of day as mapping.TimeLayout text, nil
// for null. It is the one typed reading of our Parquet values (the
// dataset's snapshots, the writer's tests); ParquetReader reads any
// Parquet file as text, for import.
func RowValue(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.Date32:
		return a.Value(i).ToTime()
	case *array.Timestamp:
		return a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit)
	case *array.Time32: // a time-of-day field, TIME(ms)
		return a.Value(i).ToTime(a.DataType().(*arrow.Time32Type).Unit).Format(mapping.TimeLayout)
	case *array.Time64: // a time-of-day field in an Iceberg table, TIME(us)
		return a.Value(i).ToTime(a.DataType().(*arrow.Time64Type).Unit).Format(mapping.TimeLayout)
	case *array.List:
		start, end := a.ValueOffsets(i)
		vals, ok := a.ListValues().(*array.String)
		if !ok { // not a list we wrote: its text, never a panic
			return a.ValueStr(i)
		}
		out := make([]string, 0, end-start)
		for j := start; j < end; j++ {
			out = append(out, vals.Value(int(j)))
		}
		return out
	}
	return a.ValueStr(i)
}
