package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// Ctrl-C in the middle of an import: the real binary exits 130 and says a
// re-run resumes; the re-run then creates exactly the rows not yet created.
func TestImportCtrlCExits130AndResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := binary(t)
	sim := newSim(t, udesktest.Options{Tickets: 5, Seed: 4, Latency: 20 * time.Millisecond})
	dir := t.TempDir()
	recs := relCreateRows("ctrl-c", 60, relEmails(sim, 5))
	input := filepath.Join(dir, "in.csv")
	writeCSVTest(t, input, recs)
	results := filepath.Join(dir, "results")
	args := []string{"import", "--create", "-i", input, "--results", results, "--concurrency", "2", "--quiet"}

	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), relSimEnv(sim)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for sim.Requests()[udesktest.EndpointCreate] < 10 {
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("after Ctrl-C: %v, want exit %d\n%s", err, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "resume") {
		t.Errorf("stderr does not say that a re-run resumes:\n%s", stderr.String())
	}
	if created := sim.Requests()[udesktest.EndpointCreate]; created >= len(recs)-1 {
		t.Fatalf("all %d creates were sent before the interrupt took effect", created)
	}

	r := relRun(t, dir, relSimEnv(sim), time.Minute, 0, args...)
	if r.code != exitOK {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	relCheckCreated(t, sim, recs, results)
}
