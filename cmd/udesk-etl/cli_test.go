package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// runCLI runs one command line in-process with the given environment and
// returns its exit code, stdout and stderr.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{
		stdin:  strings.NewReader(""),
		stdout: &stdout,
		stderr: &stderr,
		getenv: func(k string) string { return env[k] },
	}
	code := run(context.Background(), a, args)
	return code, stdout.String(), stderr.String()
}

func newSim(t *testing.T, opts udesktest.Options) *udesktest.Server {
	t.Helper()
	s, err := udesktest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func simEnv(s *udesktest.Server) map[string]string {
	return map[string]string{"UDESK_URL": s.URL(), "UDESK_SECRET": s.Secret(), "UDESK_RATE": "unlimited"}
}

func TestMissingConfigurationIsAOneLineUsageError(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no url", map[string]string{"UDESK_SECRET": "x"}, "UDESK_URL"},
		{"no secret", map[string]string{"UDESK_URL": "http://127.0.0.1:1"}, "UDESK_SECRET"},
		{"bad rate", map[string]string{"UDESK_URL": "http://127.0.0.1:1", "UDESK_SECRET": "x", "UDESK_RATE": "fast"}, "--rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.env, "fields")
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q: want one line naming %s", stderr, tc.want)
			}
		})
	}
}

func TestUnknownCommandAndFlag(t *testing.T) {
	if code, _, _ := runCLI(t, nil, "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, nil, "fields", "--no-such-flag"); code != exitUsage {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, nil, "fields", "-h"); code != exitOK {
		t.Errorf("-h: exit %d, want 0", code)
	}
}

func TestFieldsAndFiltersAgainstSimulator(t *testing.T) {
	s := newSim(t, udesktest.Options{Tickets: 10, Seed: 1})
	code, stdout, stderr := runCLI(t, simEnv(s), "fields")
	if code != exitOK {
		t.Fatalf("fields: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"TextField_1", "单行文本字段", "SelectField_3", "多选框选项4", "checkbox"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("fields output lacks %q:\n%s", want, stdout)
		}
	}

	out := filepath.Join(t.TempDir(), "fields.json")
	if code, _, stderr := runCLI(t, simEnv(s), "fields", "-o", out); code != exitOK {
		t.Fatalf("fields -o: exit %d: %s", code, stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fields, err := udesk.ReadFields(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) < 11 || fields[8].Name != "SelectField_1" || len(fields[8].Options) != 3 {
		t.Errorf("saved catalog does not read back: %+v", fields)
	}

	code, stdout, stderr = runCLI(t, simEnv(s), "filters")
	if code != exitOK {
		t.Fatalf("filters: exit %d: %s", code, stderr)
	}
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) < 2 {
		t.Errorf("filters printed no filter:\n%s", stdout)
	}
}

func TestWrongSecretPrintsTheSigningError(t *testing.T) {
	s := newSim(t, udesktest.Options{Tickets: 1, Seed: 1, Secret: "right-secret"})
	env := simEnv(s)
	env["UDESK_SECRET"] = "wrong-secret-canary"
	code, stdout, stderr := runCLI(t, env, "fields")
	if code == exitOK {
		t.Fatalf("exit 0 with a wrong secret")
	}
	if !strings.Contains(stderr, "2002") || !strings.Contains(stderr, "签名错") {
		t.Errorf("stderr %q does not show the API's signing error", stderr)
	}
	if strings.Contains(stdout+stderr, "wrong-secret-canary") {
		t.Errorf("the secret leaked into the output")
	}
}

func TestSecretFile(t *testing.T) {
	s := newSim(t, udesktest.Options{Tickets: 1, Seed: 1})
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(s.Secret()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"UDESK_URL": s.URL()}
	if code, _, stderr := runCLI(t, env, "fields", "--secret-file", path, "--rate", "unlimited"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runCLI(t, nil, "version")
	if code != exitOK || !strings.HasPrefix(stdout, "udesk-etl ") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

// Debug lines come from every worker at once; under -race this fails unless
// writes to stderr are serialised.
func TestDebugLinesFromConcurrentWorkers(t *testing.T) {
	s := newSim(t, udesktest.Options{Tickets: 3000, Seed: 3, Latency: time.Millisecond})
	out := filepath.Join(t.TempDir(), "t.jsonl")
	code, _, stderr := runCLI(t, simEnv(s), "export", "-o", out, "--debug", "--concurrency", "4", "--quiet")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stderr, "debug: "); n < 5 {
		t.Errorf("%d debug lines, want one per request (at least 5)", n)
	}
	if strings.Contains(stderr, s.Secret()) {
		t.Error("the secret leaked into the debug lines")
	}
}
