// Package datasettest starts the S3-compatible server the dataset tests run
// against, for the tests of every package that writes datasets.
package datasettest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// skipS3Env, when set, lets the bucket tests skip where versitygw is not
// installed; otherwise they fail, so that CI cannot pass without them.
const skipS3Env = "UDESK_SKIP_S3_TESTS"

const (
	testBucket = "udesk-etl-test"
	testKey    = "test-access-key"
	testSecret = "test-secret-key-1234"
)

// StartS3 starts versitygw on a free loopback port with a temp folder
// as its storage, points the AWS variables at it, stops it when t ends, and
// returns the URL of its bucket, "s3://BUCKET", and the local folder where
// the server keeps the bucket's objects as files (for reading them back).
// The test fails when versitygw is not installed (make tools), unless
// UDESK_SKIP_S3_TESTS is set or the tests run with -short (make
// test-short works on a fresh clone).
func StartS3(t testing.TB) (bucket, files string) {
	t.Helper()
	bin := versityBinary(t)
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, testBucket), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs strings.Builder
	cmd := exec.Command(bin, "--access", testKey, "--secret", testSecret, "--port", addr, "--quiet",
		"posix", "--sidecar", t.TempDir(), root)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("versitygw exited at start: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not listen on %s: %s", addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", testKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", "http://"+addr)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(root, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(root, "no-credentials"))
	return "s3://" + testBucket, filepath.Join(root, testBucket)
}

// versityBinary finds .tools/bin/versitygw at the module's root.
func versityBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(moduleRoot(t), ".tools", "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("%s is missing: run scripts/install-versitygw.sh (or make tools) to install the S3 test server", bin)
		if os.Getenv(skipS3Env) != "" {
			t.Skip(msg)
		}
		if testing.Short() {
			t.Skip(msg + "; -short skips the bucket tests without it")
		}
		t.Fatal(msg + "; or set " + skipS3Env + "=1 to skip the bucket tests")
	}
	return bin
}

// moduleRoot is the folder of go.mod above the test's.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}
