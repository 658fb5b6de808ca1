package dataset

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// A run holds a lease on its dataset: DATASET/_udesk/lease.json, created
// only if absent (an exclusive create on a folder, If-None-Match: * on S3),
// renewed while the run lives by a conditional replace (If-Match on its
// ETag on S3; on a folder a short flock of _udesk/lease.lock around the
// read, token check and atomic replace), and deleted at the end if still
// ours. A second run from any machine is refused, naming the holder. The
// lease is taken over when it expired, or at once when its holder was a
// process of this host (same host name and boot) that no longer runs.
// The lease only keeps runs apart; the commit's conditional metadata create
// stays safe without it.
const (
	leaseKey  = "_udesk/lease.json"
	leaseLock = "_udesk/lease.lock" // folder only
)

// LeaseInfo is lease.json: who holds the dataset until when. Nothing
// secret: a host name, a process id and times.
type LeaseInfo struct {
	Version int       `json:"version"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	BootID  string    `json:"boot_id,omitempty"` // this boot of the host: a pid is checked only within it
	Started time.Time `json:"started"`
	Renewed time.Time `json:"renewed"`
	Expires time.Time `json:"expires"`
	Token   string    `json:"token"` // tells one lease from a taker's
}

func (i LeaseInfo) String() string {
	return fmt.Sprintf("host %s, pid %d, started %s, expires %s", i.Host, i.PID,
		i.Started.UTC().Format(time.RFC3339), i.Expires.UTC().Format(time.RFC3339))
}

// LeaseOptions say how long a lease lasts without renewal.
type LeaseOptions struct {
	TTL time.Duration    // required; renewed every TTL/3
	Now func() time.Time // the clock (default time.Now)
}

// LeaseHeldError is an acquire that found the dataset held by a live run.
type LeaseHeldError struct {
	Dataset string
	Holder  LeaseInfo
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("dataset %s is being synced by another run (%s); nothing was done: wait for that run to end, "+
		"or, if it is gone, run again after its lease expires and this run takes it over", e.Dataset, e.Holder)
}

// LeaseLostError is a run whose lease another run took over (after it
// expired unrenewed): the run must not commit.
type LeaseLostError struct {
	Dataset string
	Taker   *LeaseInfo // nil when unknown (the lease expired before it could be renewed)
	Err     error      // why renewal failed, if it did
}

func (e *LeaseLostError) Error() string {
	who := "its lease expired before it could be renewed"
	if e.Taker != nil {
		who = "another run took the dataset over (" + e.Taker.String() + ")"
	} else if e.Err != nil {
		who += ": " + e.Err.Error()
	}
	return fmt.Sprintf("dataset %s: this run lost its lease: %s; this run was not committed", e.Dataset, who)
}

func (e *LeaseLostError) Unwrap() error { return e.Err }

// Lease is a held lease; Check says whether it still is.
type Lease struct {
	s    *Store
	opts LeaseOptions
	// TakenOver is the lease this one replaced (expired, or of a process
	// of this host that no longer runs), nil when it was free.
	TakenOver *LeaseInfo

	mu   sync.Mutex
	info LeaseInfo
	etag string // S3's ETag of our lease.json ("" on a folder)
	lost *LeaseLostError
	stop chan struct{}
	done chan struct{}
}

// whoami is this process as a lease names it.
func whoami() (host, boot string) {
	host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		boot = strings.TrimSpace(string(b))
	}
	return host, boot
}

// AcquireLease takes the dataset's lease for this process, or returns a
// *LeaseHeldError naming the live holder. It renews the lease until Release.
func (s *Store) AcquireLease(ctx context.Context, opts LeaseOptions) (*Lease, error) {
	if opts.TTL <= 0 {
		return nil, fmt.Errorf("dataset %s: lease TTL %s: want a positive duration", s.where, opts.TTL)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	host, boot := whoami()
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return nil, err
	}
	now := opts.Now().UTC()
	l := &Lease{s: s, opts: opts, info: LeaseInfo{Version: 1, Host: host, PID: os.Getpid(), BootID: boot,
		Started: now, Renewed: now, Expires: now.Add(opts.TTL), Token: hex.EncodeToString(token)}}
	data, err := json.Marshal(l.info)
	if err != nil {
		return nil, err
	}
	// A lease released or replaced between our create and read is tried
	// again; a few rounds settle any race.
	for range 5 {
		etag, err := s.createTagged(ctx, leaseKey, data)
		if err == nil {
			l.etag = etag
			l.start()
			return l, nil
		}
		if !errors.Is(err, errExists) {
			return nil, fmt.Errorf("dataset %s: taking the lease: %w", s.where, err)
		}
		cur, curTag, err := s.readLease(ctx)
		if err != nil {
			return nil, err
		}
		if cur == nil {
			continue
		}
		if !takeable(*cur, opts.Now(), host, boot) {
			return nil, &LeaseHeldError{Dataset: s.where, Holder: *cur}
		}
		etag, err = s.replaceLease(ctx, data, cur.Token, curTag)
		if errors.Is(err, errChanged) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dataset %s: taking the lease over: %w", s.where, err)
		}
		l.etag, l.TakenOver = etag, cur
		l.start()
		return l, nil
	}
	return nil, fmt.Errorf("dataset %s: the lease kept changing while it was taken: another run is starting", s.where)
}

// takeable says whether a lease may be taken over: it expired, or its
// holder was a process of this host, in this boot, that no longer runs.
func takeable(cur LeaseInfo, now time.Time, host, boot string) bool {
	if now.After(cur.Expires) {
		return true
	}
	return cur.Host == host && boot != "" && cur.BootID == boot && cur.PID != os.Getpid() && processGone(cur.PID)
}

// readLease returns the current lease and its ETag, nil when there is none.
func (s *Store) readLease(ctx context.Context) (*LeaseInfo, string, error) {
	data, etag, err := s.readTagged(ctx, leaseKey)
	if err != nil || data == nil {
		return nil, "", err
	}
	var info LeaseInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, "", fmt.Errorf("dataset %s: %s: %w (delete it if no sync runs)", s.where, leaseKey, err)
	}
	return &info, etag, nil
}

// replaceLease replaces the lease whose token and ETag were read with
// data; errChanged when another run replaced or released it since.
func (s *Store) replaceLease(ctx context.Context, data []byte, token, etag string) (string, error) {
	if s.s3 != nil {
		return s.replaceIf(ctx, leaseKey, data, etag)
	}
	unlock, err := s.lockLease()
	if err != nil {
		return "", err
	}
	defer unlock()
	cur, _, err := s.readLease(ctx)
	if err != nil {
		return "", err
	}
	if cur == nil || cur.Token != token {
		return "", errChanged
	}
	return s.replaceIf(ctx, leaseKey, data, "")
}

// lockLease serializes a folder lease's read-check-replace between processes.
func (s *Store) lockLease() (func(), error) {
	path := filepath.Join(s.dir, filepath.FromSlash(leaseLock))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(path)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: locking %s: %w", s.where, leaseLock, err)
	}
	return unlock, nil
}

// Info is the lease as last written.
func (l *Lease) Info() LeaseInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// start renews the lease every TTL/3 until Release or its loss.
func (l *Lease) start() {
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(l.done)
		tick := time.NewTicker(l.opts.TTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
				if l.renew() != nil {
					return
				}
			}
		}
	}()
}

// renew extends the lease by a conditional replace; it returns the loss
// once the lease is lost. A failure that leaves time before the lease
// expires is tried again at the next tick.
func (l *Lease) renew() error {
	if err := l.Check(); err != nil {
		return err
	}
	l.mu.Lock()
	next := l.info
	etag := l.etag
	l.mu.Unlock()
	now := l.opts.Now().UTC()
	next.Renewed, next.Expires = now, now.Add(l.opts.TTL)
	data, err := json.Marshal(next)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.TTL/3)
	defer cancel()
	newTag, err := l.s.replaceLease(ctx, data, next.Token, etag)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.lost != nil:
		return l.lost
	case errors.Is(err, errChanged):
		taker, _, _ := l.s.readLease(ctx)
		if taker != nil && taker.Token == next.Token {
			taker = nil
		}
		l.lost = &LeaseLostError{Dataset: l.s.where, Taker: taker}
		return l.lost
	case err != nil:
		return nil // Check declares it lost once it expired
	}
	l.info, l.etag = next, newTag
	return nil
}

// Check returns nil while the lease is held, a *LeaseLostError after
// another run took it over or it expired unrenewed.
func (l *Lease) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil && l.opts.Now().After(l.info.Expires) {
		l.lost = &LeaseLostError{Dataset: l.s.where}
	}
	if l.lost != nil {
		return l.lost
	}
	return nil
}

// Release stops renewing and deletes the lease if it is still ours.
func (l *Lease) Release(ctx context.Context) error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return nil
	}
	l.lost = &LeaseLostError{Dataset: l.s.where, Err: errors.New("released")}
	if l.s.s3 != nil {
		if err := l.s.removeIf(ctx, leaseKey, l.etag); err != nil && !errors.Is(err, errChanged) {
			return err
		}
		return nil
	}
	unlock, err := l.s.lockLease()
	if err != nil {
		return err
	}
	defer unlock()
	cur, _, err := l.s.readLease(ctx)
	if err != nil || cur == nil || cur.Token != l.info.Token {
		return err
	}
	return l.s.remove(ctx, leaseKey)
}
