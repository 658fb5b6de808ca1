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

// syncBuffer is a child's stderr, read while it is written.
type syncBuffer struct {
	lockedWriter
	b bytes.Buffer
}

func newSyncBuffer() *syncBuffer {
	s := &syncBuffer{}
	s.w = &s.b
	return s
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startImport starts the binary on an import of 20 rows against sim, four
// writes in flight at 10/s, and returns once 3 creates reached the server.
func startImport(t *testing.T, sim *udesktest.Server, tag string) (cmd *exec.Cmd, stderr *syncBuffer, recs [][]string, args []string, results string) {
	t.Helper()
	dir := t.TempDir()
	recs = relCreateRows(tag, 20, relEmails(sim, 3))
	input := filepath.Join(dir, "in.csv")
	writeCSVTest(t, input, recs)
	results = filepath.Join(dir, "results")
	args = []string{"import", "--create", "-i", input, "--results", results, "--concurrency", "4", "--rate", "10/s", "--quiet"}
	cmd = exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), relSimEnv(sim)...)
	stderr = newSyncBuffer()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for sim.Requests()[udesktest.EndpointCreate] < 3 {
		time.Sleep(2 * time.Millisecond)
	}
	return cmd, stderr, recs, args, results
}

// waitExit waits for the binary and wants exit 130; a run still going after
// a minute is killed and fails the test (it ignored the interrupt).
func waitExit(t *testing.T, cmd *exec.Cmd, stderr *syncBuffer) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running a minute after the interrupt\n%s", stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("after Ctrl-C: %v, want exit %d\n%s", err, exitInterrupted, stderr.String())
	}
}

// The first Ctrl-C stops sending but lets the creates on the wire finish:
// every create that reached the server is written and journaled, so the
// re-run has nothing in doubt and creates exactly the rest.
func TestImportFirstCtrlCFinishesWritesOnTheWire(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	sim := newSim(t, udesktest.Options{Tickets: 5, Seed: 4, Latency: time.Second})
	before := len(sim.Tickets())
	cmd, stderr, recs, args, results := startImport(t, sim, "first-ctrl-c")
	cmd.Process.Signal(syscall.SIGINT)
	waitExit(t, cmd, stderr)
	if !strings.Contains(stderr.String(), "interrupt again") {
		t.Errorf("stderr does not say how to stop at once:\n%s", stderr.String())
	}
	arrived, made := sim.Requests()[udesktest.EndpointCreate], len(sim.Tickets())-before
	if made != arrived || made == len(recs)-1 {
		t.Fatalf("%d creates reached the server, %d tickets made: the writes on the wire must finish, the others not start", arrived, made)
	}
	r := relRun(t, t.TempDir(), relSimEnv(sim), time.Minute, 0, args...)
	if r.code != exitOK {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	relCheckCreated(t, sim, recs, results)
}

// A second Ctrl-C stops at once, even with creates held without a reply for
// minutes.
func TestImportSecondCtrlCStopsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	stall, err := udesktest.ParseFaults("stall@create=1")
	if err != nil {
		t.Fatal(err)
	}
	sim := newSim(t, udesktest.Options{Tickets: 5, Seed: 4, Faults: stall, Stall: 10 * time.Minute})
	cmd, stderr, _, _, _ := startImport(t, sim, "second-ctrl-c")
	cmd.Process.Signal(syscall.SIGINT)
	for !strings.Contains(stderr.String(), "interrupt again") {
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	waitExit(t, cmd, stderr)
	if !strings.Contains(stderr.String(), "resume") {
		t.Errorf("stderr does not say that a re-run resumes:\n%s", stderr.String())
	}
}
