package sources

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/sinks"
)

// benchExport writes a 100k-row export as the exporter does (text, numbers,
// dates, datetimes, a list, a read-only column, the hidden sheets).
func benchExport(b *testing.B, rows int) string {
	b.Helper()
	p := b.TempDir() + "/export.xlsx"
	schema := pipeline.Schema{Columns: []pipeline.Column{
		{Name: "id", Field: "id", Kind: pipeline.Int64, ReadOnly: true},
		{Name: "subject", Field: "subject", Kind: pipeline.String},
		{Name: "content", Field: "content", Kind: pipeline.String},
		{Name: "status", Field: "status", Kind: pipeline.String},
		{Name: "created_at", Field: "created_at", Kind: pipeline.Timestamp, ReadOnly: true},
		{Name: "日期", Field: "TextField_3", Kind: pipeline.Date},
		{Name: "数值", Field: "TextField_8", Kind: pipeline.Float64},
		{Name: "复选框", Field: "SelectField_3", Kind: pipeline.StringList},
	}, Meta: map[string]string{"run": "bench"}}
	w, err := sinks.NewXLSXWriter(p, schema, sinks.XLSXOptions{})
	if err != nil {
		b.Fatal(err)
	}
	cst := time.FixedZone("+0800", 8*3600)
	batch := make([]pipeline.Row, 0, 1000)
	for i := range rows {
		ts := time.Date(2024, 1, 2, 15, 4, 5, 0, cst).Add(time.Duration(i) * time.Minute)
		batch = append(batch, pipeline.Row{Values: []any{int64(i + 1), fmt.Sprintf("工单主题 %d", i),
			"这是工单的内容, with some text\r\n第二行", "open", ts, time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC),
			13.33 + float64(i), []string{"选项1", "选项4"}}})
		if len(batch) == cap(batch) {
			if err := w.WriteRows(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := w.WriteRows(batch); err != nil {
		b.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		b.Fatal(err)
	}
	return p
}

// peakHeap samples the heap in use while f runs.
func peakHeap(f func()) uint64 {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	return peak
}

// BenchmarkXLSXReaders reads a 100k-row export with our reader and with
// excelize's streaming Rows (formatted values, and raw ones).
func BenchmarkXLSXReaders(b *testing.B) {
	const rows = 100_000
	p := benchExport(b, rows)
	read := map[string]func() int{
		"ours": func() int {
			r, err := OpenXLSX(p, "")
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			n := 0
			for {
				_, err := r.Next(b.Context())
				if err == io.EOF {
					return n
				}
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
		},
		"excelize": func() int { return excelizeRows(b, p, excelize.Options{}) },
		"excelize-raw": func() int {
			return excelizeRows(b, p, excelize.Options{RawCellValue: true})
		},
	}
	for _, name := range []string{"ours", "excelize", "excelize-raw"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			runtime.GC()
			var peak uint64
			for b.Loop() {
				peak = max(peak, peakHeap(func() {
					if n := read[name](); n != rows {
						b.Fatalf("%d rows", n)
					}
				}))
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

func excelizeRows(b *testing.B, p string, opts excelize.Options) int {
	f, err := excelize.OpenFile(p, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rs, err := f.Rows("Tickets")
	if err != nil {
		b.Fatal(err)
	}
	n := -1 // the header
	for rs.Next() {
		if _, err := rs.Columns(opts); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := rs.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}
