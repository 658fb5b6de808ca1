package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// TestSyncIcebergTwoSyncsAtOnce starts two syncs of one dataset at the
// same moment from two working folders (each its own cwd and HOME: two
// machines as far as the runs can tell), again and again, into a folder and
// a bucket. Each time exactly one commits a run and the other exits 1 at
// once naming the holder (its host and pid), and tickets gains one
// snapshot: none lost, none doubled. (A sync of another tenant spelling or
// selector is refused by the dataset's owner, exit 2: TestSyncIcebergRefusesAnotherTenant.)
func TestSyncIcebergTwoSyncsAtOnce(t *testing.T) {
	trials := 20
	if testing.Short() {
		trials = 2
	}
	t.Run("folder", func(t *testing.T) {
		ds := filepath.Join(t.TempDir(), "ds")
		iceRace(t, ds, ds, nil, trials)
	})
	t.Run("s3", func(t *testing.T) {
		bucket, files := datasettest.StartS3(t)
		buckets := map[string]string{strings.TrimPrefix(bucket, "s3://"): files}
		iceRace(t, bucket+"/race", filepath.Join(files, "race"), buckets, trials)
	})
}

// workDirEnv is env with a new working folder as HOME: another machine's
// empty disk, as far as a run can tell.
func workDirEnv(t *testing.T, env []string) (dir string, _ []string) {
	dir = t.TempDir()
	return dir, slices.Concat(env, []string{"HOME=" + dir})
}

func iceRace(t *testing.T, target, local string, buckets map[string]string, trials int) {
	sim := newSim(t, udesktest.Options{Tickets: 200, Seed: 41, Latency: 5 * time.Millisecond})
	bin := binary(t)
	env := append(os.Environ(), "UDESK_SECRET="+sim.Secret(), "UDESK_RATE=unlimited")
	first, envA := workDirEnv(t, env)
	second, envB := workDirEnv(t, env)
	if killed, stderr := iceAttempt(t, bin, slices.Concat(envA, []string{"UDESK_URL=" + sim.URL()}), first, nil, "sync", "--quiet", "--dataset", target); killed {
		t.Fatalf("first sync: %s", stderr)
	}
	seen := iceConsistent(t, local, buckets, nil)
	host, _ := os.Hostname()
	for trial := range trials {
		sim.Mutate(udesktest.Mutation{Seed: int64(100 + trial), Update: 5})
		var wg sync.WaitGroup
		codes, pids := make([]int, 2), make([]int, 2)
		errs := make([]string, 2)
		start := make(chan struct{})
		for i, job := range []struct {
			env []string
			dir string
		}{{slices.Concat(envA, []string{"UDESK_URL=" + sim.URL()}), first}, {slices.Concat(envB, []string{"UDESK_URL=" + sim.URL()}), second}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, "sync", "--quiet", "--dataset", target)
				cmd.Env, cmd.Dir = job.env, job.dir
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				<-start
				err := cmd.Start()
				if err == nil {
					pids[i] = cmd.Process.Pid
					err = cmd.Wait()
				}
				codes[i], errs[i] = -1, stderr.String()
				if cmd.ProcessState != nil {
					codes[i] = cmd.ProcessState.ExitCode()
				} else {
					errs[i] = err.Error()
				}
			}()
		}
		close(start)
		wg.Wait()
		won := slices.Index(codes, exitOK)
		lost := 1 - won
		if won < 0 || codes[lost] != exitFailed {
			t.Fatalf("trial %d: exits %v, want one 0 and one 1\n%s\n%s", trial+1, codes, errs[0], errs[1])
		}
		holder := fmt.Sprintf("host %s, pid %d", host, pids[won])
		if !strings.Contains(errs[lost], holder) || !strings.Contains(errs[lost], "another run") {
			t.Fatalf("trial %d: the refused sync does not name the holder (%s):\n%s", trial+1, holder, errs[lost])
		}
		now := iceConsistent(t, local, buckets, seen)
		if len(now) != len(seen)+1 {
			t.Fatalf("trial %d: one sync succeeded, tickets' runs went from %v to %v", trial+1, seen, now)
		}
		// The run that won has the trial's 5 updates.
		tbl := readIceTable(t, filepath.Join(local, iceTickets), buckets)
		if s := tbl.RunSnapshot(t, now[len(seen)]); s.Summary["udesk.updated"] != "5" {
			t.Fatalf("trial %d: the committed run's summary %v, want 5 updated", trial+1, s.Summary)
		}
		seen = now
	}
	if _, err := os.Stat(filepath.Join(local, "_udesk", "lease.json")); !os.IsNotExist(err) {
		t.Fatalf("a lease is left after the runs ended (%v)", err)
	}
}

// TestSyncIcebergRefusesAnotherTenant: a dataset knows whose it is.
func TestSyncIcebergRefusesAnotherTenant(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 150, Seed: 51})
	other := newSim(t, udesktest.Options{Tickets: 150, Seed: 52})
	ds := filepath.Join(t.TempDir(), "ds")
	if code, _, stderr := runCLI(t, simEnv(sim), "sync", "--quiet", "--dataset", ds); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s", code, stderr)
	}
	before := readIceTable(t, filepath.Join(ds, iceTickets), nil).Runs()
	code, _, stderr := runCLI(t, simEnv(other), "sync", "--quiet", "--dataset", ds)
	hostOf := func(u string) string { return strings.TrimPrefix(u, "http://") }
	if code != exitUsage || !strings.Contains(stderr, hostOf(sim.URL())) || !strings.Contains(stderr, hostOf(other.URL())) {
		t.Fatalf("a sync of another tenant: exit %d, want %d naming %s and %s:\n%s", code, exitUsage, sim.URL(), other.URL(), stderr)
	}
	if after := readIceTable(t, filepath.Join(ds, iceTickets), nil).Runs(); len(after) != len(before) {
		t.Fatalf("the refused sync committed: runs %v, then %v", before, after)
	}
	// The dataset's own tenant still syncs.
	if code, _, stderr := runCLI(t, simEnv(sim), "sync", "--quiet", "--dataset", ds); code != exitOK {
		t.Fatalf("the tenant's next sync: exit %d\n%s", code, stderr)
	}
}

// TestSyncIcebergClockAheadDoesNotBlock: a run started with the clock an
// hour ahead commits; the next run, on the right clock, is not blocked by
// it, and has the exact counts of the changes made between.
// UDESK_TEST_CLOCK_OFFSET (read only by tests' in-process runs, through the
// app's environment) moves the sync's clock.
func TestSyncIcebergClockAheadDoesNotBlock(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 250, Seed: 71})
	ds := filepath.Join(t.TempDir(), "ds")
	env := simEnv(sim)
	if code, _, stderr := runCLI(t, env, "sync", "--quiet", "--dataset", ds); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s", code, stderr)
	}
	ahead := simEnv(sim)
	ahead["UDESK_TEST_CLOCK_OFFSET"] = "1h"
	sim.Mutate(udesktest.Mutation{Seed: 72, Update: 3})
	if code, _, stderr := runCLI(t, ahead, "sync", "--quiet", "--dataset", ds); code != exitOK {
		t.Fatalf("the sync an hour ahead: exit %d\n%s", code, stderr)
	}
	runs := readIceTable(t, filepath.Join(ds, iceTickets), nil).Runs()
	future, err := time.Parse("20060102T150405Z", runs[len(runs)-1])
	if err != nil || future.Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("the run with the clock an hour ahead is %q: the tool does not read UDESK_TEST_CLOCK_OFFSET "+
			"(a test hook the clock tests need)", runs[len(runs)-1])
	}
	mut := sim.Mutate(udesktest.Mutation{Seed: 73, Update: 4, Delete: 1, Create: 2})
	code, _, stderr := runCLI(t, env, "sync", "--quiet", "--dataset", ds)
	if code != exitOK {
		t.Fatalf("the sync after a run an hour ahead: exit %d\n%s", code, stderr)
	}
	after := readIceTable(t, filepath.Join(ds, iceTickets), nil)
	if got := after.Runs(); len(got) != len(runs)+1 {
		t.Fatalf("runs %v after %v: the run on the right clock did not commit once", got, runs)
	}
	s := after.CurrentSnapshot()
	want := iceCountsOf(map[string]int{"inserted": len(mut.Created), "updated": len(mut.Updated), "deleted": len(mut.Deleted),
		"unchanged": len(sim.Tickets()) - len(mut.Created) - len(mut.Updated)})
	if got := iceCounts(s); got != want {
		t.Fatalf("the run after the one ahead: %s, want %s", got, want)
	}
	if code, _, stderr := runCLI(t, env, "sync", "--quiet", "--fresh", "--dataset", ds); code != exitOK {
		t.Fatalf("--fresh: exit %d\n%s", code, stderr)
	}
}

// startSync starts the binary in dir without waiting for it.
func startSync(t *testing.T, bin string, env []string, dir string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = env, dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &stderr
}

// waitFor polls ok for up to 30s.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// leaseOf reads the dataset's lease.json as the runs left it, nil when
// there is none.
func leaseOf(t *testing.T, local string) *dataset.LeaseInfo {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(local, "_udesk", "lease.json"))
	if os.IsNotExist(err) {
		return nil
	}
	var info dataset.LeaseInfo
	if err == nil {
		err = json.Unmarshal(b, &info)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &info
}

// exitOf runs cmd to its end and returns its exit code and stderr.
func exitOf(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	err := cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// leaseTargets runs fn against a dataset in a folder and in a bucket
// (target as the runs name it, local where its files are).
func leaseTargets(t *testing.T, fn func(t *testing.T, target, local string, buckets map[string]string)) {
	t.Run("folder", func(t *testing.T) {
		ds := filepath.Join(t.TempDir(), "ds")
		fn(t, ds, ds, nil)
	})
	t.Run("s3", func(t *testing.T) {
		bucket, files := datasettest.StartS3(t)
		fn(t, bucket+"/lease", filepath.Join(files, "lease"), map[string]string{strings.TrimPrefix(bucket, "s3://"): files})
	})
}

// TestSyncIcebergKilledHolderLease: a run killed -9 with --lease-ttl 2s
// keeps the dataset from a run of another host (unshare -u, as root) until
// its lease expires, then that run takes it over and commits; a run of the
// same host that is killed is taken over at once by the next run.
func TestSyncIcebergKilledHolderLease(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := binary(t)
	leaseTargets(t, func(t *testing.T, target, local string, buckets map[string]string) {
		sim := newSim(t, udesktest.Options{Tickets: 150, Seed: 61, Latency: 5 * time.Millisecond})
		env := append(os.Environ(), "UDESK_SECRET="+sim.Secret(), "UDESK_URL="+sim.URL(), "UDESK_RATE=unlimited")
		args := []string{"sync", "--quiet", "--lease-ttl", "2s", "--dataset", target}
		dirA, envA := workDirEnv(t, env)
		// The holder sleeps at data-written (UDESK_TEST_PAUSE_AT) and is killed holding its lease.
		killHolder := func() *dataset.LeaseInfo {
			cmd, _ := startSync(t, bin, slices.Concat(envA, []string{"UDESK_TEST_PAUSE_AT=data-written"}), dirA, args...)
			waitFor(t, "the holder's lease", func() bool { l := leaseOf(t, local); return l != nil && l.PID == cmd.Process.Pid })
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			return leaseOf(t, local)
		}

		// Another host: refused until the lease expires, then taken over.
		if os.Geteuid() == 0 {
			held := killHolder()
			dirB, envB := workDirEnv(t, env)
			other := func() *exec.Cmd {
				cmd := exec.Command("unshare", append([]string{"-u", "sh", "-c", `hostname other-host && exec "$@"`, "sh", bin}, args...)...)
				cmd.Env, cmd.Dir = envB, dirB
				return cmd
			}
			code, stderr := exitOf(t, other())
			if time.Now().After(held.Expires) {
				t.Skip("the machine is too slow to run before a 2s lease expires")
			}
			if code != exitFailed || !strings.Contains(stderr, fmt.Sprintf("pid %d", held.PID)) || !strings.Contains(stderr, "host "+held.Host) {
				t.Fatalf("a run of another host before the lease expired: exit %d, want 1 naming the holder:\n%s", code, stderr)
			}
			time.Sleep(time.Until(held.Expires) + 100*time.Millisecond)
			before := iceConsistent(t, local, buckets, nil)
			if code, stderr := exitOf(t, other()); code != exitOK {
				t.Fatalf("a run of another host after the lease expired: exit %d\n%s", code, stderr)
			}
			if after := iceConsistent(t, local, buckets, before); len(after) != len(before)+1 {
				t.Fatalf("runs %v, then %v: the run that took over did not commit once", before, after)
			}
		} else {
			t.Log("not root: the other-host variant (unshare -u) is skipped")
		}

		// This host: the next run takes over at once, before the lease expires.
		held := killHolder()
		before := iceConsistent(t, local, buckets, nil)
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Dir = envA, dirA
		if code, stderr := exitOf(t, cmd); code != exitOK {
			t.Fatalf("the rerun on the same host: exit %d\n%s", code, stderr)
		}
		if time.Now().After(held.Expires) {
			t.Log("the rerun ended after the killed run's lease expired: its takeover at once is not shown")
		} else if after := iceConsistent(t, local, buckets, before); len(after) != len(before)+1 {
			t.Fatalf("runs %v, then %v", before, after)
		}
	})
}

// TestSyncIcebergLostLeaseDoesNotCommit: a holder stopped (SIGSTOP) after
// writing its data, past its 2s lease, is taken over by a run of another
// working folder that commits; continued, it exits 1 saying it lost its
// lease, and its run is not in the dataset. On a bucket: a folder
// dataset's state folder is beside it, and the stopped holder's lock on it
// keeps a taker of this host out anyway.
func TestSyncIcebergLostLeaseDoesNotCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := binary(t)
	bucket, files := datasettest.StartS3(t)
	target, local := bucket+"/lease", filepath.Join(files, "lease")
	buckets := map[string]string{strings.TrimPrefix(bucket, "s3://"): files}
	sim := newSim(t, udesktest.Options{Tickets: 150, Seed: 62, Latency: 5 * time.Millisecond})
	env := append(os.Environ(), "UDESK_SECRET="+sim.Secret(), "UDESK_URL="+sim.URL(), "UDESK_RATE=unlimited")
	args := []string{"sync", "--quiet", "--lease-ttl", "2s", "--dataset", target}
	dirA, envA := workDirEnv(t, env)
	dirB, envB := workDirEnv(t, env)
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = envA, dirA
	if code, stderr := exitOf(t, cmd); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s", code, stderr)
	}
	before := iceConsistent(t, local, buckets, nil)
	sim.Mutate(udesktest.Mutation{Seed: 63, Update: 3})

	holder, holderErr := startSync(t, bin, slices.Concat(envA, []string{"UDESK_TEST_PAUSE_AT=data-written"}), dirA, args...)
	data := len(iceFiles(local, []string{iceTickets, iceChanges}, "data"))
	waitFor(t, "the holder's data files", func() bool { return len(iceFiles(local, []string{iceTickets, iceChanges}, "data")) > data })
	holder.Process.Signal(syscall.SIGSTOP)
	held := leaseOf(t, local)
	if held == nil || held.PID != holder.Process.Pid {
		t.Fatalf("the stopped holder's lease: %+v", held)
	}
	time.Sleep(time.Until(held.Expires) + 200*time.Millisecond)

	taker := exec.Command(bin, args...)
	taker.Env, taker.Dir = envB, dirB
	if code, stderr := exitOf(t, taker); code != exitOK {
		t.Fatalf("the run taking the expired lease over: exit %d\n%s", code, stderr)
	}
	holder.Process.Signal(syscall.SIGCONT)
	holder.Wait()
	if code := holder.ProcessState.ExitCode(); code != exitFailed || !strings.Contains(holderErr.String(), "lost its lease") {
		t.Fatalf("the holder that lost its lease: exit %d, want 1 saying so:\n%s", code, holderErr)
	}
	after := iceConsistent(t, local, buckets, before)
	if len(after) != len(before)+1 {
		t.Fatalf("runs %v, then %v: want the taker's run only", before, after)
	}
	tbl := readIceTable(t, filepath.Join(local, iceTickets), buckets)
	if s := tbl.RunSnapshot(t, after[len(before)]); s.Summary["udesk.updated"] != "3" {
		t.Fatalf("the taker's run %v, want 3 updated", s.Summary)
	}
	if changes := readIceTable(t, filepath.Join(local, iceChanges), buckets).Runs(); len(changes) != len(after) {
		t.Fatalf("changes holds runs %v, tickets %v: the holder committed a table", changes, after)
	}
}
