package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// relSoak selects the soak sizes of the reliability tests (make soak sets
// UDESK_SOAK=1); make test runs the CI sizes.
var relSoak = os.Getenv("UDESK_SOAK") != ""

// relSize is n at CI size, soak at soak size.
func relSize(n, soak int) int {
	if relSoak {
		return soak
	}
	return n
}

// relChild is one finished run of the real binary.
type relChild struct {
	code           int
	stdout, stderr string
	maxRSS         int64 // bytes
}

// relRun runs the built binary with args in dir and the given extra
// environment. It kills the run and fails the test when it is still running
// after limit or when its resident memory goes over maxRSS (0: no cap).
func relRun(t *testing.T, dir string, env []string, limit time.Duration, maxRSS int64, args ...string) relChild {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var overMem, peak atomic.Int64
	var overTime atomic.Bool
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(limit)
		for {
			select {
			case <-done:
				return
			case <-deadline:
				overTime.Store(true)
				cmd.Process.Kill()
				return
			case <-tick.C:
				rss := relPeakRSS(cmd.Process.Pid)
				if rss > peak.Load() {
					peak.Store(rss)
				}
				if maxRSS > 0 && rss > maxRSS {
					overMem.Store(rss)
					cmd.Process.Kill()
					return
				}
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	what := "udesk-etl " + strings.Join(args, " ")
	if overTime.Load() {
		t.Fatalf("%s: still running after %v\nstderr: %s", what, limit, stderr.String())
	}
	if rss := overMem.Load(); rss > 0 {
		t.Fatalf("%s: killed at %d MiB of memory, over the %d MiB bound\nstderr: %s", what, rss>>20, maxRSS>>20, stderr.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", what, err)
	}
	// The peak is sampled from /proc rather than taken from the child's
	// rusage: Linux counts into a child's ru_maxrss the memory of the test
	// process that started it, which under -race alone is over the bound.
	return relChild{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String(), maxRSS: peak.Load()}
}

// relPeakRSS is a running process's peak resident memory so far (VmHWM) in
// bytes, 0 when unknown.
func relPeakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// relSimEnv is the environment that points the binary at a simulator.
func relSimEnv(s *udesktest.Server) []string {
	return []string{"UDESK_URL=" + s.URL(), "UDESK_SECRET=" + s.Secret(), "UDESK_RATE=unlimited"}
}

// relNoPanic fails when output shows a Go panic or runtime crash (a panic
// exits 2, the same code as a usage error).
func relNoPanic(t *testing.T, what, output string) {
	t.Helper()
	for _, sign := range []string{"panic:", "goroutine ", "fatal error:", "runtime error"} {
		if strings.Contains(output, sign) {
			t.Fatalf("%s: the program crashed (%q):\n%s", what, sign, output)
		}
	}
}

// relFiles lists every regular file under dir, relative to it.
func relFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// relNoTemps fails when a writer's temp file is left anywhere under dir:
// an output appears at its final path complete, or not at all.
func relNoTemps(t *testing.T, dir string) {
	t.Helper()
	for _, f := range relFiles(t, dir) {
		if strings.Contains(filepath.Base(f), ".tmp") {
			t.Errorf("a temp file is left behind: %s", f)
		}
	}
}

// relCreateRows builds create rows with unique subjects (tag-N) for the given
// customer emails, round robin.
func relCreateRows(tag string, n int, emails []string) [][]string {
	recs := [][]string{{"subject", "content", "email"}}
	for i := 0; i < n; i++ {
		recs = append(recs, []string{fmt.Sprintf("%s-%04d", tag, i), "body of " + tag + " " + strconv.Itoa(i), emails[i%len(emails)]})
	}
	return recs
}

// relCheckCreated checks that every create row's ticket exists exactly once
// on the server with the row's content, and that success.csv in results maps
// each row (row number = index+1 in recs) to that ticket, errors.csv empty.
func relCheckCreated(t *testing.T, sim *udesktest.Server, recs [][]string, results string) {
	t.Helper()
	by := ticketsBySubject(sim)
	ids := map[string]string{}
	for i, r := range recs[1:] {
		got := by[r[0]]
		if len(got) != 1 {
			t.Errorf("row %d (%s): %d tickets on the server, want exactly 1", i+2, r[0], len(got))
			continue
		}
		if got[0].Content != r[1] {
			t.Errorf("row %d: content %q, want %q", i+2, got[0].Content, r[1])
		}
		ids[strconv.Itoa(i+2)] = strconv.FormatInt(got[0].ID, 10)
	}
	ok := readCSV(t, filepath.Join(results, "success.csv"))
	if len(ok)-1 != len(recs)-1 {
		t.Errorf("success.csv has %d rows, want %d", len(ok)-1, len(recs)-1)
	}
	for _, r := range ok[1:] {
		if ids[r[0]] != r[1] || r[2] != "created" {
			t.Errorf("success.csv row %v: want ticket %s created", r, ids[r[0]])
		}
	}
	if errs := readCSV(t, filepath.Join(results, "errors.csv")); len(errs) != 1 {
		t.Errorf("errors.csv lists %d rows, want none: %v", len(errs)-1, errs[1:])
	}
}

// relEmails returns the emails of the simulator's first n customers that
// have one, so that a create in doubt can be looked up by its customer.
func relEmails(sim *udesktest.Server, n int) []string {
	var emails []string
	for _, c := range sim.Customers() {
		if c.Email != "" && len(emails) < n {
			emails = append(emails, c.Email)
		}
	}
	return emails
}
