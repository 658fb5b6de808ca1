package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// An upsert killed at random moments while creates and updates lose their
// replies leaves, once re-run to the end, exactly one ticket per key, each
// with its row's values.
func TestUpsertCrashOneTicketPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the binary again and again")
	}
	seed := time.Now().UnixNano() % 100000
	faults, err := udesktest.ParseFaults(fmt.Sprintf("reset-after@create=0.15,reset-after@update=0.15,seed=%d", seed))
	if err != nil {
		t.Fatal(err)
	}
	sim := newSim(t, udesktest.Options{Tickets: 50, Seed: seed, Latency: 15 * time.Millisecond, Faults: faults})
	const n, existing = 500, 150
	for i := 0; i < existing; i++ {
		sim.CreateTicket(udesktest.Ticket{Subject: "old", Status: "open", CustomFields: map[string]string{"TextField_1": fmt.Sprintf("SRC-%d", i)}})
	}
	in := filepath.Join(t.TempDir(), "source.csv")
	recs := [][]string{{"subject", "content", "email", "status", "单行文本字段"}}
	for i := 0; i < n; i++ {
		recs = append(recs, []string{fmt.Sprintf("upsert-%d-%03d", seed, i), "content", fmt.Sprintf("c%d@example.com", i%5),
			[]string{"open", "解决中", "resolved"}[i%3], fmt.Sprintf("SRC-%d", i)})
	}
	writeCSVTest(t, in, recs)
	// Killed within each run's first 60 requests: the key index's listing,
	// the lookups of writes in doubt, the creates and updates.
	code, stderr := crashWithin(t, sim, seed, 5, afterRequests(60), "import", "--upsert", "--key", "单行文本字段", "-i", in, "--quiet")
	if code != exitOK {
		t.Fatalf("final run: exit %d: %s", code, stderr)
	}
	byKey := map[string][]udesktest.Ticket{}
	for _, tk := range sim.Tickets() {
		if k := tk.CustomFields["TextField_1"]; k != "" {
			byKey[k] = append(byKey[k], tk)
		}
	}
	status := map[string]string{"open": "open", "解决中": "solving", "resolved": "resolved"}
	for _, r := range recs[1:] {
		tk := byKey[r[4]]
		if len(tk) != 1 {
			t.Errorf("key %s: %d tickets, want 1", r[4], len(tk))
			continue
		}
		if tk[0].Subject != r[0] || tk[0].Status != status[r[3]] {
			t.Errorf("key %s: subject %q status %q, want %q %q", r[4], tk[0].Subject, tk[0].Status, r[0], status[r[3]])
		}
	}
	t.Logf("%d rows, one ticket per key; requests %v", n, sim.Requests())
}
