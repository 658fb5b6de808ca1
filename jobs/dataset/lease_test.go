package dataset

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func acquire(t *testing.T, s *Store, opts LeaseOptions) *Lease {
	t.Helper()
	l, err := s.AcquireLease(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// putLease writes lease.json as another run would have left it.
func putLease(t *testing.T, s *Store, info LeaseInfo) {
	t.Helper()
	data, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.createTagged(context.Background(), leaseKey, data); err != nil {
		t.Fatal(err)
	}
}

func currentLease(t *testing.T, s *Store) *LeaseInfo {
	t.Helper()
	info, _, err := s.readLease(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// A lease is created when absent; a second acquire is refused naming the
// holder (host, pid, started, expires); release frees it for the next.
func TestLeaseIsExclusiveAndNamesTheHolder(t *testing.T) {
	runStores(t, func(t *testing.T, target string) {
		s := openStore(t, target)
		ctx := context.Background()
		l := acquire(t, s, LeaseOptions{TTL: time.Minute})
		info := currentLease(t, s)
		host, _ := os.Hostname()
		if info == nil || info.Token != l.Info().Token || info.Host != host || info.PID != os.Getpid() ||
			info.Expires.Sub(info.Started) != time.Minute || info.Version != 1 {
			t.Fatalf("lease.json %+v", info)
		}
		_, err := openStore(t, target).AcquireLease(ctx, LeaseOptions{TTL: time.Minute})
		var held *LeaseHeldError
		if !errors.As(err, &held) || held.Holder.Token != info.Token {
			t.Fatalf("second acquire: %v, want a LeaseHeldError", err)
		}
		for _, want := range []string{target, "host " + host, "pid " + strconv.Itoa(os.Getpid()),
			info.Started.Format(time.RFC3339), info.Expires.Format(time.RFC3339), "wait"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the refusal does not say %q: %v", want, err)
			}
		}
		if err := l.Check(); err != nil {
			t.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if info := currentLease(t, s); info != nil {
			t.Fatalf("released lease still there: %+v", info)
		}
		acquire(t, s, LeaseOptions{TTL: time.Minute}).Release(ctx)
	})
}

// A lease is renewed while held: its expiry moves on.
func TestLeaseIsRenewed(t *testing.T) {
	runStores(t, func(t *testing.T, target string) {
		s := openStore(t, target)
		l := acquire(t, s, LeaseOptions{TTL: 600 * time.Millisecond})
		defer l.Release(context.Background())
		first := currentLease(t, s)
		time.Sleep(time.Second)
		if err := l.Check(); err != nil {
			t.Fatalf("a renewed lease: %v", err)
		}
		now := currentLease(t, s)
		if now == nil || now.Token != first.Token || !now.Expires.After(first.Expires) || !now.Renewed.After(first.Renewed) {
			t.Fatalf("lease %+v, then %+v: not renewed", first, now)
		}
	})
}

// An expired lease is taken over; one of another host that has not
// expired is not, whatever its pid.
func TestLeaseExpiredIsTakenOver(t *testing.T) {
	runStores(t, func(t *testing.T, target string) {
		s := openStore(t, target)
		ctx := context.Background()
		now := time.Now().UTC()
		other := LeaseInfo{Version: 1, Host: "other-host", PID: 999999, Started: now.Add(-time.Hour),
			Renewed: now.Add(-time.Minute), Expires: now.Add(time.Minute), Token: "theirs"}
		putLease(t, s, other)
		if _, err := s.AcquireLease(ctx, LeaseOptions{TTL: time.Minute}); !errors.As(err, new(*LeaseHeldError)) {
			t.Fatalf("a live lease of another host: %v, want held", err)
		}
		// The same lease, two minutes later by this run's clock: expired.
		l := acquire(t, s, LeaseOptions{TTL: time.Minute, Now: func() time.Time { return now.Add(2 * time.Minute) }})
		defer l.Release(ctx)
		if l.TakenOver == nil || l.TakenOver.Token != "theirs" || currentLease(t, s).Token != l.Info().Token {
			t.Fatalf("took over %+v; lease now %+v", l.TakenOver, currentLease(t, s))
		}
	})
}

// A lease of a process of this host (same boot) that no longer runs is
// taken over at once; one whose process runs, or of another boot, is not.
func TestLeaseOfADeadProcessIsTakenOverAtOnce(t *testing.T) {
	host, boot := whoami()
	if boot == "" {
		t.Skip("no boot id on this system: a lease is taken over only when it expired")
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { live.Process.Kill(); live.Wait() }()
	runStores(t, func(t *testing.T, target string) {
		s := openStore(t, target)
		ctx := context.Background()
		now := time.Now().UTC()
		lease := func(pid int, boot, token string) {
			s.remove(ctx, leaseKey)
			putLease(t, s, LeaseInfo{Version: 1, Host: host, PID: pid, BootID: boot, Started: now,
				Renewed: now, Expires: now.Add(time.Hour), Token: token})
		}
		for name, l := range map[string]func(){
			"a live process":             func() { lease(live.Process.Pid, boot, "live") },
			"a process of another boot":  func() { lease(dead.Process.Pid, "another-boot", "reboot") },
			"this process (another run)": func() { lease(os.Getpid(), boot, "mine") },
		} {
			l()
			if _, err := s.AcquireLease(ctx, LeaseOptions{TTL: time.Minute}); !errors.As(err, new(*LeaseHeldError)) {
				t.Fatalf("the lease of %s: %v, want held", name, err)
			}
		}
		lease(dead.Process.Pid, boot, "dead")
		l := acquire(t, s, LeaseOptions{TTL: time.Minute})
		defer l.Release(ctx)
		if l.TakenOver == nil || l.TakenOver.Token != "dead" {
			t.Fatalf("took over %+v, want the dead process's lease", l.TakenOver)
		}
	})
}

// A holder whose lease another run took over finds out (Check), and its
// release leaves the taker's lease alone. A lease that could not be
// renewed before it expired is lost too.
func TestLeaseLost(t *testing.T) {
	runStores(t, func(t *testing.T, target string) {
		s := openStore(t, target)
		ctx := context.Background()
		l := acquire(t, s, LeaseOptions{TTL: 900 * time.Millisecond})
		// The taker's clock is an hour ahead: the lease is expired to it.
		taker := acquire(t, openStore(t, target), LeaseOptions{TTL: time.Minute,
			Now: func() time.Time { return time.Now().Add(time.Hour) }})
		var lost *LeaseLostError
		for deadline := time.Now().Add(3 * time.Second); !errors.As(l.Check(), &lost); {
			if time.Now().After(deadline) {
				t.Fatal("the holder did not see its lease taken over")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if lost.Taker == nil || lost.Taker.Token != taker.Info().Token || !strings.Contains(lost.Error(), "took the dataset over") {
			t.Fatalf("lost: %v (taker %+v)", lost, lost.Taker)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if cur := currentLease(t, s); cur == nil || cur.Token != taker.Info().Token {
			t.Fatalf("the loser's release touched the taker's lease: %+v", cur)
		}
		if err := taker.Release(ctx); err != nil || currentLease(t, s) != nil {
			t.Fatalf("the taker's release: %v, lease %+v", err, currentLease(t, s))
		}

		// Unrenewed past its expiry (the clock jumps): lost.
		clock := time.Now()
		l = acquire(t, s, LeaseOptions{TTL: time.Minute, Now: func() time.Time { return clock }})
		defer l.Release(ctx)
		clock = clock.Add(2 * time.Minute)
		if err := l.Check(); !errors.As(err, &lost) || lost.Taker != nil {
			t.Fatalf("an expired lease: Check %v, want lost", err)
		}
	})
}

// A commit whose Guard fails (its run lost the lease) stops before the
// next metadata create with the guard's error: the run is not published,
// and the next run is committed as if it never was.
func TestCommitStopsWhenItsGuardFails(t *testing.T) {
	s := openStore(t, t.TempDir())
	commitRun(t, s, 0, feed(tk(1, "a", nil)), nil, Options{})
	lost := &LeaseLostError{Dataset: s.String()}
	creates := 0
	_, err := Commit(context.Background(), s, feed(tk(1, "b", nil)), nil, Options{Started: runAt(1), Catalog: testFields(),
		TempDir: t.TempDir(), Now: func() time.Time { return runAt(2) },
		Guard: func() error {
			// The commit's start and the first table's commit pass.
			if creates++; creates > 2 {
				return lost
			}
			return nil
		}})
	if !errors.Is(err, lost) {
		t.Fatalf("a commit whose guard failed: %v", err)
	}
	if p, _ := s.Published(context.Background()); len(p) != 1 {
		t.Fatalf("published %+v after a refused commit", p)
	}
	commitRun(t, s, 2, feed(tk(1, "c", nil)), nil, Options{Now: func() time.Time { return runAt(3) }})
	if p, _ := s.Published(context.Background()); len(p) != 2 || p[1].Counts.Updated != 1 {
		t.Fatalf("published %+v", p)
	}
}

// A table commit that fails because the run that took the lease over moved
// the table (iceberg-go may see that before our catalog asks the guard)
// reports the lost lease, not a conflict the run could start over from.
func TestCommitFailedAfterTheLeaseWasLostSaysSo(t *testing.T) {
	s := openStore(t, t.TempDir())
	moved := &ConflictError{Table: TableChanges, Err: errors.New("branch main has changed")}
	if err := s.commitFailed(TableChanges, moved); !errors.As(err, new(*ConflictError)) {
		t.Fatalf("with the lease held: %v, want the conflict", err)
	}
	s.guard = func() error { return &LeaseLostError{Dataset: s.String()} }
	err := s.commitFailed(TableChanges, moved)
	if !errors.As(err, new(*LeaseLostError)) || errors.As(err, new(*ConflictError)) || !strings.Contains(err.Error(), "branch main has changed") {
		t.Fatalf("after the lease was lost: %v, want the lost lease (and the conflict's words)", err)
	}
}
