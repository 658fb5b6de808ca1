//go:build unix

package sinks

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

const benchRows = 100_000

// benchSchema is ticket-like: the 18 export attributes and 12 custom fields.
func benchSchema() pipeline.Schema {
	s := pipeline.Schema{Meta: map[string]string{"udesk.catalog": strings.Repeat(`{"field_name":"x"},`, 500)}}
	add := func(name string, k pipeline.Kind, ro bool, opts ...string) {
		s.Columns = append(s.Columns, pipeline.Column{Name: name, Field: name, Kind: k, ReadOnly: ro, Options: opts})
	}
	add("id", pipeline.Int64, true)
	add("subject", pipeline.String, false)
	add("content", pipeline.String, false)
	add("content_type", pipeline.String, true)
	add("platform", pipeline.String, true)
	add("priority", pipeline.String, false, "紧急", "高", "标准", "低")
	add("status", pipeline.String, false, "open", "solving", "solved", "closed")
	add("user", pipeline.String, true)
	add("user_email", pipeline.String, false)
	add("user_cellphone", pipeline.String, false)
	add("assignee", pipeline.String, false)
	add("assignee_id", pipeline.Int64, false)
	add("user_group_id", pipeline.Int64, false)
	add("user_group_name", pipeline.String, false)
	add("solving_at", pipeline.Timestamp, true)
	add("replied_by", pipeline.String, true)
	add("created_at", pipeline.Timestamp, true)
	add("updated_at", pipeline.Timestamp, true)
	add("下拉列表", pipeline.String, false, "选项一", "选项二", "选项三")
	add("复选框", pipeline.StringList, false, "甲", "乙", "丙")
	add("日期", pipeline.Date, false)
	add("日期时间", pipeline.Timestamp, false)
	add("数字", pipeline.Int64, false)
	add("小数", pipeline.Float64, false)
	add("时间", pipeline.TimeOfDay, false)
	for i := 1; i <= 5; i++ {
		add(fmt.Sprintf("文本%d", i), pipeline.String, false)
	}
	return s
}

// benchBatch fills rows with the synthetic tickets first..first+len(rows)-1,
// reusing their value slices as an exporter would. Every 1000th row has a raw
// value. Rows are made batch by batch so that the live heap holds a batch,
// not the whole data set, as in a real export.
func benchBatch(rows []pipeline.Row, first int) {
	words := []string{"打印机", "无法", "登录", "账号", "退款", "订单", "发票", "printer", "error", "请尽快处理", "谢谢", "=SUM(1)"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, cst)
	for k := range rows {
		i := first + k
		rng := rand.New(rand.NewPCG(uint64(i), 2))
		text := func(n int) string {
			var b strings.Builder
			for b.Len() < n {
				b.WriteString(words[rng.IntN(len(words))])
				if rng.IntN(8) == 0 {
					b.WriteString("\r\n")
				} else {
					b.WriteByte(' ')
				}
			}
			return b.String()
		}
		created := base.Add(time.Duration(rng.IntN(365*86400)) * time.Second)
		v := rows[k].Values[:0]
		v = append(v,
			int64(100000+i), text(30), text(200+rng.IntN(600)), "text", "web", []string{"紧急", "高", "标准", "低"}[rng.IntN(4)],
			[]string{"open", "solving", "solved", "closed"}[rng.IntN(4)], "客户"+strconv.Itoa(rng.IntN(5000)),
			fmt.Sprintf("user%d@example.com", rng.IntN(5000)), fmt.Sprintf("138%08d", rng.IntN(1e8)), "客服"+strconv.Itoa(rng.IntN(50)),
			int64(rng.IntN(50)), int64(rng.IntN(10)), "二线支持", created.Add(time.Hour), "客服1", created, created.Add(2*time.Hour),
			"选项二", []string{"甲", "丙"}, time.Date(2024, time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC),
			created, int64(rng.IntN(1000)), rng.Float64()*1000, "09:30:00",
			text(20), text(40), nil, text(10), nil,
		)
		rows[k] = pipeline.Row{Values: v}
		if i%1000 == 0 {
			rows[k].Values[22] = nil
			rows[k].Raw = map[int]string{22: "not a number"}
		}
	}
}

// peakHeap samples the live heap while a benchmark runs, over what was live
// before (the benchmark's input rows).
type peakHeap struct {
	stop chan struct{}
	done chan uint64
}

func startPeakHeap() *peakHeap {
	runtime.GC()
	p := &peakHeap{stop: make(chan struct{}), done: make(chan uint64)}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	go func() {
		var peak uint64
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-p.stop:
				p.done <- peak - min(peak, base)
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peakHeap) end() uint64 { close(p.stop); return <-p.done }

func benchWriter(b *testing.B, ext string, open func(path string, s pipeline.Schema) (pipeline.RowWriter, error)) {
	const batch = 500
	schema := benchSchema()
	rows := make([]pipeline.Row, batch)
	dir := b.TempDir()
	b.ReportAllocs()
	var peak, size uint64
	var wall, cpu time.Duration
	for b.Loop() {
		path := filepath.Join(dir, "bench"+ext)
		ph := startPeakHeap()
		w, err := open(path, schema)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < benchRows; i += batch {
			b.StopTimer()
			benchBatch(rows, i)
			b.StartTimer()
			t0, c0 := time.Now(), cpuTime()
			if err := w.WriteRows(rows); err != nil {
				b.Fatal(err)
			}
			wall, cpu = wall+time.Since(t0), cpu+cpuTime()-c0
		}
		t0, c0 := time.Now(), cpuTime()
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
		wall, cpu = wall+time.Since(t0), cpu+cpuTime()-c0
		peak = max(peak, ph.end())
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		size = uint64(fi.Size())
	}
	n := float64(b.N * benchRows)
	b.ReportMetric(n/wall.Seconds(), "rows/s")
	// On a shared machine the CPU time says more than the wall clock.
	b.ReportMetric(n/cpu.Seconds(), "rows/cpu-s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(size)/(1<<20), "file-MB")
}

func BenchmarkParquetWriter(b *testing.B) { benchWriter(b, ".parquet", NewParquetWriter) }

func BenchmarkXLSXWriter(b *testing.B) {
	benchWriter(b, ".xlsx", func(p string, s pipeline.Schema) (pipeline.RowWriter, error) {
		return NewXLSXWriter(p, s, XLSXOptions{TmpDir: filepath.Dir(p)})
	})
}

func BenchmarkCSVWriter(b *testing.B) {
	benchWriter(b, ".csv", func(p string, s pipeline.Schema) (pipeline.RowWriter, error) {
		return NewCSVWriter(p, s, CSVOptions{})
	})
}

func BenchmarkJSONLWriter(b *testing.B) { benchWriter(b, ".jsonl", NewJSONLWriter) }

// cpuTime is the process's user and system CPU time (GC included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
