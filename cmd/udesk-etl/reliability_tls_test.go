package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// relStartSim runs `udesk-etl sim args...` in-process until the test ends
// and returns the URL and secret it prints.
func relStartSim(t *testing.T, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	a := &app{stdin: strings.NewReader(""), stdout: pw, stderr: io.Discard, getenv: func(string) string { return "" }}
	go func() {
		code := run(ctx, a, append([]string{"sim"}, args...))
		pw.Close()
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("sim: exit %d", code)
		}
	})
	sc := bufio.NewScanner(pr)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	go io.Copy(io.Discard, pr)
	if len(lines) < 2 {
		t.Fatalf("sim printed %q, want its URL and secret", lines)
	}
	return lines[0], lines[1]
}

// TestTLSSelfSignedRefusedUnlessTrusted: an HTTPS simulator with a
// self-signed certificate (udesk-etl sim --tls --cert-out) is refused by
// default, with an error that names the certificate problem, and accepted
// with --ca-file.
func TestTLSSelfSignedRefusedUnlessTrusted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert := filepath.Join(dir, "sim.pem")
	url, secret := relStartSim(t, "--tls", "--cert-out", cert, "--tickets", "3")
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("sim --tls serves %s", url)
	}
	env := map[string]string{"UDESK_URL": url, "UDESK_SECRET": secret, "UDESK_RATE": "unlimited"}

	t.Run("refused by default", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, env, "fields", "--debug")
		if code != exitFailed {
			t.Fatalf("exit %d, want 1\n%s", code, stderr)
		}
		if stdout != "" {
			t.Errorf("stdout %q after a refused connection", stdout)
		}
		if !strings.Contains(stderr, "certificate") {
			t.Errorf("the error does not name the certificate problem:\n%s", stderr)
		}
		// An untrusted certificate does not heal with time: retrying only
		// delays the error.
		if strings.Contains(stderr, "attempt 2") {
			t.Errorf("a certificate error was retried:\n%s", stderr)
		}
	})
	t.Run("accepted with --ca-file", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, env, "fields", "--ca-file", cert)
		if code != exitOK || !strings.Contains(stdout, "SelectField_1") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
		}
	})
	t.Run("another certificate is refused", func(t *testing.T) {
		other := newSim(t, udesktest.Options{TLS: true})
		otherCert := filepath.Join(dir, "other.pem")
		if err := os.WriteFile(otherCert, other.CertPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := runCLI(t, env, "fields", "--ca-file", otherCert); code != exitFailed || !strings.Contains(stderr, "certificate") {
			t.Errorf("exit %d, want 1 naming the certificate\n%s", code, stderr)
		}
	})
	t.Run("a --ca-file without a certificate is a usage error", func(t *testing.T) {
		notPEM := filepath.Join(dir, "not.pem")
		os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644)
		if code, _, stderr := runCLI(t, env, "fields", "--ca-file", notPEM); code != exitUsage || !strings.Contains(stderr, "not.pem") {
			t.Errorf("exit %d, want 2 naming the file\n%s", code, stderr)
		}
		if code, _, stderr := runCLI(t, env, "fields", "--ca-file", filepath.Join(dir, "missing.pem")); code != exitUsage {
			t.Errorf("missing --ca-file: exit %d, want 2\n%s", code, stderr)
		}
	})
}

// TestTLSExportAndImportWithCAFile: the data commands work over HTTPS with
// --ca-file, and refuse the server without it before sending anything.
func TestTLSExportAndImportWithCAFile(t *testing.T) {
	t.Parallel()
	sim := newSim(t, udesktest.Options{TLS: true, Tickets: 120, Seed: 3})
	dir := t.TempDir()
	cert := filepath.Join(dir, "sim.pem")
	if err := os.WriteFile(cert, sim.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "t.jsonl")
	if code, _, stderr := runCLI(t, simEnv(sim), "export", "--quiet", "-o", out, "--ca-file", cert); code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(out); strings.Count(string(b), "\n") != 120 {
		t.Errorf("export over HTTPS wrote %d lines, want 120", strings.Count(string(b), "\n"))
	}
	in := filepath.Join(dir, "in.csv")
	recs := relCreateRows("tls", 3, []string{"tls@example.com"})
	writeCSVTest(t, in, recs)
	before := len(sim.Log())
	if code, _, _ := runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--quiet", "--results", filepath.Join(dir, "r0")); code != exitFailed {
		t.Errorf("import without --ca-file: exit %d, want 1", code)
	}
	if n := len(sim.Log()) - before; n != 0 {
		t.Errorf("%d requests reached the server without a trusted certificate", n)
	}
	results := filepath.Join(dir, "results")
	if code, _, stderr := runCLI(t, simEnv(sim), "import", "--create", "-i", in, "--quiet", "--results", results, "--ca-file", cert); code != exitOK {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}
	relCheckCreated(t, sim, recs, results)
}
