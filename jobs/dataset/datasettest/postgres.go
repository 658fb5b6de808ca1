package datasettest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to create the test database
)

// skipPostgresEnv, when set, lets the SQL catalog tests skip where
// PostgreSQL is not installed in .tools; otherwise they fail.
const skipPostgresEnv = "UDESK_SKIP_POSTGRES_TESTS"

// PostgresUser is the role StartPostgres creates, with a password.
const PostgresUser = "udesk"

// StartPostgres starts a throwaway PostgreSQL server (from .tools/postgres,
// installed by make tools) on a free loopback port, with a role that logs
// in by password (scram-sha-256) and a database for the catalog; stops it
// when t ends. It returns the catalog URL (without the password) and the
// password. As root the server runs as nobody (postgres refuses root). The
// test fails when the server is not installed, unless
// UDESK_SKIP_POSTGRES_TESTS is set or the tests run with -short.
func StartPostgres(t testing.TB) (catalogURL, password string) {
	t.Helper()
	bin, libs := postgresBinaries(t)
	dir, err := os.MkdirTemp("", "udesk-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	password = "pg-test-password-5150"
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	var asUser []string
	if os.Geteuid() == 0 {
		nobody, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("postgres refuses to run as root, and there is no user nobody: %v", err)
		}
		uid, _ := strconv.Atoi(nobody.Uid)
		gid, _ := strconv.Atoi(nobody.Gid)
		if err := os.Mkdir(data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(data, uid, gid); err != nil {
			t.Fatal(err)
		}
		asUser = []string{"setpriv", "--reuid=" + nobody.Uid, "--regid=" + nobody.Gid, "--clear-groups", "--pdeathsig=KILL", "--"}
	}
	command := func(name string, args ...string) *exec.Cmd {
		argv := append(append(asUser[:len(asUser):len(asUser)], filepath.Join(bin, name)), args...)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+libs, "LC_ALL=C", "HOME="+dir)
		return cmd
	}
	if out, err := command("initdb", "-D", data, "-U", PostgresUser, "--pwfile", pwfile, "--auth", "scram-sha-256",
		"-E", "UTF8", "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	// The socket goes in the data folder, the one folder the server's user
	// owns; the tests connect over TCP.
	var logs strings.Builder
	srv := command("postgres", "-D", data, "-p", port, "-k", data, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off")
	srv.Stdout, srv.Stderr = &logs, &logs
	// A test that panics (a timeout) runs no cleanup: the server dies with
	// the test process instead of lingering (setpriv sets this for root).
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := srv.Start(); err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = srv.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		<-exited
	})
	admin := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%s/postgres?sslmode=disable", PostgresUser, password, port)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for deadline := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("postgres exited at start: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres did not accept connections on %s: %v\n%s", port, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := db.Exec("CREATE DATABASE catalog"); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://%s@127.0.0.1:%s/catalog?sslmode=disable", PostgresUser, port), password
}

// postgresBinaries finds .tools/postgres's server binaries and libraries.
func postgresBinaries(t testing.TB) (bin, libs string) {
	t.Helper()
	root := moduleRoot(t)
	base := filepath.Join(root, ".tools", "postgres")
	bin = filepath.Join(base, "usr", "lib", "postgresql", "15", "bin")
	if _, err := os.Stat(filepath.Join(bin, "postgres")); err != nil {
		msg := fmt.Sprintf("%s is missing: run scripts/install-postgres.sh (or make tools) to install the PostgreSQL test server", bin)
		if os.Getenv(skipPostgresEnv) != "" {
			t.Skip(msg)
		}
		if testing.Short() {
			t.Skip(msg + "; -short skips the PostgreSQL tests without it")
		}
		t.Fatal(msg + "; or set " + skipPostgresEnv + "=1 to skip the PostgreSQL tests")
	}
	matches, _ := filepath.Glob(filepath.Join(base, "usr", "lib", "*-linux-gnu"))
	return bin, strings.Join(matches, ":")
}
