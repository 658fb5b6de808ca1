package main

import (
	"path/filepath"
	"strings"
	"testing"

	syncjob "github.com/udesk-etl/udesk-etl/jobs/sync"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

func TestSyncCommand(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 250, Seed: 1})
	env := simEnv(sim)
	ds := filepath.Join(t.TempDir(), "ds")

	if code, _, stderr := runCLI(t, env, "sync", "--dataset", ds, "--schema", "thaw"); code != exitUsage || !strings.Contains(stderr, "--schema") {
		t.Fatalf("bad --schema: exit %d\n%s", code, stderr)
	}
	code, _, stderr := runCLI(t, env, "sync", "--dataset", ds)
	if code != exitOK || !strings.Contains(stderr, "sync plan: this full run of 250 tickets: 5 requests (no budget)") ||
		!strings.Contains(stderr, "250 inserted, 0 updated, 0 deleted, 0 unchanged, 0 recovered; 5 requests") {
		t.Fatalf("first sync: exit %d\n%s", code, stderr)
	}
	sim.DeleteTicket(3)
	sim.UpdateTicket(4, func(t *udesktest.Ticket) { t.Subject = "edited" })

	// A second sync while one holds the dataset's state is refused.
	state := syncjob.StateDir(syncjob.Location(ds), sim.URL(), "all tickets")
	held, _, err := pipeline.OpenSpool(state, false)
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, env, "sync", "--dataset", ds)
	held.Close()
	if code != exitFailed || !strings.Contains(stderr, state) {
		t.Fatalf("sync while another runs: exit %d\n%s", code, stderr)
	}

	if code, _, stderr := runCLI(t, env, "sync", "--dataset", ds); code != exitOK ||
		!strings.Contains(stderr, "249 tickets: 0 inserted, 1 updated, 1 deleted, 248 unchanged, 0 recovered; 6 requests") {
		t.Fatalf("second sync: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, nil, "sync", "--dataset", ds, "--status")
	if code != exitOK || !strings.Contains(stdout, "2 runs") || !strings.Contains(stdout, ": 0 inserted, 1 updated, 1 deleted") {
		t.Fatalf("--status: exit %d\n%s%s", code, stdout, stderr)
	}

	// Another tenant's tickets, or another selector's, are refused (exit 2),
	// naming both.
	other := newSim(t, udesktest.Options{Tickets: 20, Seed: 2})
	if code, _, stderr := runCLI(t, simEnv(other), "sync", "--dataset", ds); code != exitUsage ||
		!strings.Contains(stderr, sim.URL()) || !strings.Contains(stderr, other.URL()) || strings.Contains(stderr, "resume") {
		t.Fatalf("sync of another tenant: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, env, "sync", "--dataset", ds, "--filter", "1"); code != exitUsage || !strings.Contains(stderr, "all tickets") {
		t.Fatalf("sync of another selector: exit %d\n%s", code, stderr)
	}
}
