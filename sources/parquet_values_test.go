package sources

import (
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestRowValueTimesAndLists: a time of day reads as text whether the file
// holds it in milliseconds (our Parquet) or microseconds (an Iceberg
// table), a list of strings as []string, and a list of another type (a file
// we did not write) as its text, not a panic.
func TestRowValueTimesAndLists(t *testing.T) {
	mem := memory.NewGoAllocator()
	noon := 12*3600 + 34*60 + 56

	t32 := array.NewTime32Builder(mem, &arrow.Time32Type{Unit: arrow.Millisecond})
	t32.Append(arrow.Time32(noon * 1000))
	t64 := array.NewTime64Builder(mem, &arrow.Time64Type{Unit: arrow.Microsecond})
	t64.Append(arrow.Time64(int64(noon) * 1_000_000))
	for _, a := range []arrow.Array{t32.NewArray(), t64.NewArray()} {
		if got := RowValue(a, 0); got != "12:34:56" {
			t.Errorf("%s: %v, want 12:34:56", a.DataType(), got)
		}
	}

	strs := array.NewListBuilder(mem, arrow.BinaryTypes.String)
	strs.Append(true)
	strs.ValueBuilder().(*array.StringBuilder).AppendValues([]string{"a", "b"}, nil)
	if got := RowValue(strs.NewArray(), 0); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("list of strings: %#v", got)
	}
	ints := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int64)
	ints.Append(true)
	ints.ValueBuilder().(*array.Int64Builder).AppendValues([]int64{1, 2}, nil)
	if got := RowValue(ints.NewArray(), 0); got != "[1,2]" {
		t.Errorf("list of ints: %#v, want its text", got)
	}
}
