package dataset

import (
	"context"
	"strconv"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk"
)

// BenchmarkCommit measures a run against a previous snapshot of 20k
// tickets of which a tenth changed: hash map, snapshot, one streaming pass.
func BenchmarkCommit(b *testing.B) {
	const n = 20_000
	tickets := make([]udesk.Ticket, n)
	for i := range tickets {
		tickets[i] = tk(int64(i+1), "subject "+strconv.Itoa(i), map[string]string{
			"TextField_1": "remark", "SelectField_1": "1", "SelectField_2": "0,2", "TextField_2": "2026-12-24", "NumberField_1": strconv.Itoa(i),
		})
	}
	s, err := Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	commit := func(run int) {
		for i := 0; i < n; i += 10 {
			tickets[i].Subject = "subject " + strconv.Itoa(i) + " run " + strconv.Itoa(run)
		}
		_, err := Commit(context.Background(), s, feed(tickets...), nil,
			Options{Started: runAt(run), Catalog: testFields(), Keep: 2, TempDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
	}
	commit(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		commit(i + 1)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tickets/s")
}
