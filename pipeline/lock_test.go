package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestLockStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".udesk-etl", "job")
	unlock, err := LockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var le *LockedError
	if _, err := LockStateDir(dir); !errors.As(err, &le) || le.Dir != dir {
		t.Fatalf("second lock while held: %v, want a *LockedError naming %s", err, dir)
	}
	if err := os.WriteFile(filepath.Join(dir, "journal.jsonl"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A fresh start clears the state but keeps the lock file the holder locked.
	if err := ClearStateDir(dir); err != nil {
		t.Fatal(err)
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 || names[0].Name() != lockName {
		t.Fatalf("after ClearStateDir: %v, want only the lock", names)
	}
	if _, err := LockStateDir(dir); !errors.As(err, &le) {
		t.Fatalf("the lock must survive ClearStateDir: %v", err)
	}
	unlock()
	unlock2, err := LockStateDir(dir)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()
}

func TestTenantKey(t *testing.T) {
	want := "https://demo.udesk.cn"
	for _, u := range []string{"https://demo.udesk.cn", "https://demo.udesk.cn/", "HTTPS://Demo.Udesk.CN:443//", "https://admin:pw@demo.udesk.cn", " https://demo.udesk.cn/?x=1"} {
		if got := TenantKey(u); got != want {
			t.Errorf("TenantKey(%q) = %q, want %q", u, got, want)
		}
	}
	for u, want := range map[string]string{
		"http://127.0.0.1:8080/":    "http://127.0.0.1:8080",
		"http://127.0.0.1:80":       "http://127.0.0.1",
		"http://[::1]:80/":          "http://[::1]",
		"http://[::1]:9/":           "http://[::1]:9",
		"https://x.example/tenant/": "https://x.example/tenant",
	} {
		if got := TenantKey(u); got != want {
			t.Errorf("TenantKey(%q) = %q, want %q", u, got, want)
		}
	}
	if TenantKey("https://a.example") == TenantKey("https://b.example") || TenantKey("http://a.example") == TenantKey("https://a.example") {
		t.Error("different tenants must have different keys")
	}
}

func TestRealPathThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "in.csv"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	for _, name := range []string{"in.csv", "out.parquet"} { // out.parquet does not exist yet
		if a, b := RealPath(filepath.Join(real, name)), RealPath(filepath.Join(link, name)); a != b {
			t.Errorf("%s: %q and %q", name, a, b)
		}
	}
}

// A state folder and the folders made above it are the owner's only, and a
// state folder an older release left open is closed.
func TestMakeStateDirOwnerOnly(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, ".udesk-etl", "job")
	if err := MakeStateDir(dir); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(base, ".udesk-etl", "old")
	if err := os.Mkdir(old, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := MakeStateDir(old); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(dir), dir, old} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want 0700", d, fi.Mode().Perm())
		}
	}
}

// The lock of the platforms without flock, run here through its logic: an
// exclusive-create file naming the holder's process and host; a second run
// is refused while the holder lives, a dead holder's file is taken over, a
// holder on another host is never presumed dead.
func TestPidLock(t *testing.T) {
	dir := t.TempDir()
	alive := func(int) bool { return true }
	dead := func(int) bool { return false }
	unlock, busy, err := pidLock(dir, alive)
	if err != nil || busy {
		t.Fatalf("first lock: busy %v, %v", busy, err)
	}
	host, _ := os.Hostname()
	b, _ := os.ReadFile(filepath.Join(dir, pidLockName))
	if want := fmt.Sprintf("%d %s\n", os.Getpid(), host); string(b) != want {
		t.Fatalf("lock file holds %q, want %q", b, want)
	}
	if _, busy, err := pidLock(dir, alive); !busy || err != nil {
		t.Fatalf("second lock while the holder lives: busy %v, %v", busy, err)
	}
	// --fresh keeps the lock of the run that clears the folder.
	if err := ClearStateDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, busy, _ := pidLock(dir, alive); !busy {
		t.Fatal("ClearStateDir removed the lock file")
	}
	unlock()
	if _, err := os.Stat(filepath.Join(dir, pidLockName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unlock left the lock file: %v", err)
	}
	// A run that died holding the lock: its file is taken over.
	if err := os.WriteFile(filepath.Join(dir, pidLockName), []byte(fmt.Sprintf("%d %s\n", 999999, host)), 0o600); err != nil {
		t.Fatal(err)
	}
	unlock, busy, err = pidLock(dir, dead)
	if err != nil || busy {
		t.Fatalf("lock left by a dead process: busy %v, %v; want it taken over", busy, err)
	}
	unlock()
	// A holder on another host cannot be checked: busy.
	if err := os.WriteFile(filepath.Join(dir, pidLockName), []byte("42 another-host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, busy, _ := pidLock(dir, dead); !busy {
		t.Fatal("a lock held on another host was taken over")
	}
}

// A state folder that is a symbolic link is refused before anything is made
// private or cleared; a .udesk-etl folder that is a link holds real ones.
func TestLockStateDirRefusesASymlink(t *testing.T) {
	root := t.TempDir()
	target := filepath.Join(root, "precious")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, ".udesk-etl"), 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, ".udesk-etl", "job")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	var ce *ConfigError
	if _, err := LockStateDir(link); !errors.As(err, &ce) {
		t.Fatalf("LockStateDir of a link: %v, want a *ConfigError", err)
	}
	if err := ClearStateDir(link); !errors.As(err, &ce) {
		t.Fatalf("ClearStateDir of a link: %v, want a *ConfigError", err)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o755 {
		t.Fatalf("the link's target became %v", fi.Mode().Perm())
	}
	elsewhere := t.TempDir()
	linkedParent := filepath.Join(root, "linked")
	if err := os.Symlink(elsewhere, linkedParent); err != nil {
		t.Fatal(err)
	}
	unlock, err := LockStateDir(filepath.Join(linkedParent, "job"))
	if err != nil {
		t.Fatalf("a real state folder inside a linked folder: %v", err)
	}
	unlock()
}
