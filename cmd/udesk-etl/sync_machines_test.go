package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// A sync into a bucket killed with SIGKILL during its fetch on machine A
// resumes on machine B (another working folder, HOME and, as root, host
// name): B rebuilds the run's state from the bucket, fetches only the pages
// A had not saved there, and commits the run once with exact counts.
func TestSyncResumesOnAnotherMachine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	bucket, files := datasettest.StartS3(t)
	target := bucket + "/lake/udesk"
	stateDir := filepath.Join(files, "lake", "udesk", "_udesk", "state")
	const tickets, pages = 4000, 40
	sim := newSim(t, udesktest.Options{Tickets: tickets, Seed: 41, Latency: 150 * time.Millisecond})
	bin := binary(t)
	env := func(home string) []string {
		return append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
			"UDESK_URL="+sim.URL(), "UDESK_SECRET="+sim.Secret(), "UDESK_RATE=unlimited")
	}
	// A short lease: machine B takes A's over once it expires.
	const ttl = 2 * time.Second
	args := []string{"sync", "--quiet", "--dataset", target, "--lease-ttl", ttl.String()}

	// Machine A: killed once the bucket holds a group of its pages (the
	// first segment is the log's header alone).
	a := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Dir = env(a), a
	var errA bytes.Buffer
	cmd.Stderr = &errA
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	killWhen(cmd, stop, func() bool {
		segs, _ := filepath.Glob(filepath.Join(stateDir, "pages", "*.log"))
		return len(segs) > 1
	}, 0)
	err := cmd.Wait()
	close(stop)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ProcessState.ExitCode() != -1 {
		t.Fatalf("machine A was not killed: %v\n%s", err, errA.String())
	}
	listedA := sim.Requests()[udesktest.EndpointList]
	if listedA > pages {
		t.Fatalf("the kill landed after the fetch (%d list requests of %d)", listedA, pages+1)
	}
	held := savedPages(t, stateDir)
	if held == 0 || held >= pages {
		t.Fatalf("%d pages saved in the bucket by machine A (%d list requests)", held, listedA)
	}
	if b, err := os.ReadFile(filepath.Join(stateDir, "sync.json")); err != nil || bytes.Contains(b, []byte(sim.Secret())) {
		t.Fatalf("the state's sync.json (holding the secret?): %v\n%s", err, b)
	}
	t.Logf("machine A killed after %d list requests, %d pages saved in the bucket", listedA, held)

	// Machine B: an empty working folder and HOME; another host name when
	// it may set one (root: a UTS namespace of its own).
	bdir := t.TempDir()
	name, bargs := bin, args
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("unshare"); err == nil {
			name = "unshare"
			bargs = append([]string{"-u", "sh", "-c", `hostname machine-b && exec "$0" "$@"`, bin}, args...)
		}
	}
	if name == bin {
		t.Log("not root: machine B runs with this host's name")
	}
	before := sim.Requests()[udesktest.EndpointList]
	runB := func() (string, error) {
		cmdB := exec.CommandContext(ctx, name, bargs...)
		cmdB.Env, cmdB.Dir = env(bdir), bdir
		var errB bytes.Buffer
		cmdB.Stderr = &errB
		err := cmdB.Run()
		return errB.String(), err
	}
	if name != bin {
		// Another host cannot tell that A is gone: it waits for A's lease
		// to expire, refused (exit 1, naming A) before, without a request.
		out, err := runB()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out, "being synced by another run") {
			t.Fatalf("machine B before A's lease expired: %v\n%s", err, out)
		}
		time.Sleep(ttl + 500*time.Millisecond)
	}
	errB, err := runB()
	if err != nil {
		t.Fatalf("machine B: %v\n%s", err, errB)
	}
	listedB := sim.Requests()[udesktest.EndpointList] - before
	// A listing reads each page once and page 1 again at the end: B
	// reads only what the bucket did not hold.
	if want := pages + 1 - held; listedB != want {
		t.Fatalf("machine B made %d list requests, want %d (%d pages + the end check, %d held)\n%s", listedB, want, pages, held, errB)
	}

	s, err := dataset.Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.Published(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := dataset.Counts{Tickets: int64(len(sim.Tickets())), Inserted: int64(len(sim.Tickets()))}
	if len(runs) != 1 || runs[0].Counts != want {
		t.Fatalf("published %+v, want one run of %+v", runs, want)
	}
	if left, _ := filepath.Glob(filepath.Join(stateDir, "*")); len(left) != 0 {
		t.Fatalf("state left in the bucket after the commit: %q", left)
	}
}

// savedPages counts the pages the log segments in a state folder of the
// bucket hold, read as a resumed run reads them.
func savedPages(t *testing.T, stateDir string) int {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(stateDir, "pages", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(segs)
	var log []byte
	for _, s := range segs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, b...)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pages.log"), log, 0o600); err != nil {
		t.Fatal(err)
	}
	held, err := pipeline.SpoolPages(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range held {
		if p.Page > 0 {
			n++
		}
	}
	return n
}
