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
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/jobs/dataset/datasettest"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// writeJobs writes a jobs file into dir and returns its path.
func writeJobs(t *testing.T, dir, yaml string) string {
	t.Helper()
	p := filepath.Join(dir, "jobs.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSyncJobsFileMistakesAreUsageErrorsNamingTheLine(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "tenants:\n  - name: a\n    url: http://x\n    secret_env: S\n    dataset: d\n    datset: e\n", []string{"jobs.yaml:6:", `tenant "a"`, `unknown key "datset"`}},
		{"secret in the file", "tenants:\n  - name: a\n    url: http://x\n    secret: hunter2\n    dataset: d\n", []string{"jobs.yaml:4:", "never the secret itself; use secret_env or secret_file"}},
		{"no url", "tenants:\n  - name: a\n    secret_env: S\n    dataset: d\n", []string{"jobs.yaml:2:", `tenant "a"`, "no url"}},
		{"no dataset", "tenants:\n  - name: a\n    url: http://x\n    secret_env: S\n", []string{"jobs.yaml:2:", "no dataset"}},
		{"no secret", "tenants:\n  - name: a\n    url: http://x\n    dataset: d\n", []string{"jobs.yaml:2:", "no secret"}},
		{"duplicate name", "tenants:\n  - {name: a, url: http://x, secret_env: S, dataset: d}\n  - {name: a, url: http://y, secret_env: S, dataset: e}\n", []string{"jobs.yaml:3:", `tenant "a"`, "line 2"}},
		{"shared dataset", "tenants:\n  - {name: a, url: http://x, secret_env: S, dataset: d}\n  - {name: b, url: http://y, secret_env: S, dataset: d/}\n", []string{"jobs.yaml:3:", `tenant "b"`, `tenant "a"`}},
		{"dataset in defaults", "defaults: {dataset: d}\ntenants:\n  - {name: a, url: http://x, secret_env: S, dataset: d}\n", []string{"jobs.yaml:1:", "defaults"}},
		{"bad rate", "defaults: {rate: fast}\ntenants:\n  - {name: a, url: http://x, secret_env: S, dataset: d}\n", []string{"jobs.yaml:3:", "rate"}},
		{"not a number", "tenants:\n  - name: a\n    url: http://x\n    secret_env: S\n    dataset: d\n    keep: lots\n", []string{"jobs.yaml:6:", "keep"}},
		{"syntax", "tenants:\n\t- name: a\n", []string{"jobs.yaml:2:"}},
		{"no tenants", "defaults: {keep: 3}\n", []string{"jobs.yaml:1:", "tenants"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeJobs(t, dir, tc.yaml)
			code, stdout, stderr := runCLI(t, nil, "sync", "--jobs", p)
			if code != exitUsage || stdout != "" {
				t.Fatalf("exit %d, want 2\n%s%s", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "hunter2") {
				t.Errorf("the secret written in the file was echoed:\n%s", stderr)
			}
		})
	}
	p := writeJobs(t, dir, "tenants:\n  - {name: a, url: http://x, secret_env: S, dataset: d}\n")
	for _, args := range [][]string{{"--dataset", "d"}, {"--url", "http://x"}, {"--secret-file", "s"}, {"--keep", "3"}} {
		code, _, stderr := runCLI(t, nil, append([]string{"sync", "--jobs", p}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, args[0]) {
			t.Errorf("--jobs with %s: exit %d\n%s", args[0], code, stderr)
		}
	}
	if code, _, stderr := runCLI(t, nil, "sync", "--jobs", p, "--parallel", "0"); code != exitUsage || !strings.Contains(stderr, "--parallel") {
		t.Errorf("--parallel 0: exit %d\n%s", code, stderr)
	}
}

func TestSyncJobsExitCodeIsTheWorstTenants(t *testing.T) {
	for _, tc := range []struct {
		codes []int
		want  int
	}{
		{[]int{0, 0}, 0}, {[]int{0, 3}, 3}, {[]int{3, 1}, 1}, {[]int{1, 2, 3}, 2}, {[]int{2, 130, 0}, 130},
	} {
		got := exitOK
		for _, c := range tc.codes {
			got = worse(got, c)
		}
		if got != tc.want {
			t.Errorf("worst of %v = %d, want %d", tc.codes, got, tc.want)
		}
	}
}

// jobsSim is one tenant's simulator in a jobs test.
type jobsSim struct {
	name string
	sim  *udesktest.Server
	ds   string
}

// TestSyncJobsFiveTenants runs the real binary over a jobs file of five
// tenants, each its own simulator: one with a wrong secret, one answering a
// 429 with Retry-After. The four others commit; the wrong secret is its
// row's exit 2 and the run's; no simulator sees more than the tenant's
// budget; two tenants run at once, never three.
func TestSyncJobsFiveTenants(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := binary(t)
	dir := t.TempDir()
	const tickets, rate = 120, 10 // rate: requests a second, the file's budget
	var sims []jobsSim
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "defaults: {rate: %d/s, keep: 5}\ntenants:\n", rate)
	env := os.Environ()
	for i, name := range []string{"brand-a", "brand-b", "brand-c", "brand-d", "brand-e"} {
		s := newSim(t, udesktest.Options{Tickets: tickets, Seed: int64(i + 1), Secret: fmt.Sprintf("secret-of-%s-%d", name, i)})
		js := jobsSim{name: name, sim: s, ds: filepath.Join(dir, "lake", name)}
		sims = append(sims, js)
		secret := s.Secret()
		if name == "brand-c" {
			secret = "not-the-secret"
		}
		fmt.Fprintf(&yaml, "  - name: %s\n    url: %s\n    dataset: %s\n", name, s.URL(), js.ds)
		if i%2 == 0 {
			v := "UDESK_SECRET_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
			env = append(env, v+"="+secret)
			fmt.Fprintf(&yaml, "    secret_env: %s\n", v)
		} else {
			f := filepath.Join(dir, name+".secret")
			if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&yaml, "    secret_file: %s\n", f)
		}
	}
	sims[3].sim.FailNext(udesktest.EndpointList, udesktest.Fault429, 1)
	jobs := writeJobs(t, dir, yaml.String())
	report := filepath.Join(dir, "report.json")

	cmd := exec.Command(bin, "sync", "--jobs", jobs, "--parallel", "2", "--report", report)
	cmd.Env, cmd.Dir = env, dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != exitUsage {
		t.Fatalf("exit %d (%v), want 2\n%s", code, err, stderr.String())
	}
	out := stderr.String()
	t.Log(out)

	// The table: one row per tenant; the wrong secret's says exit 2.
	for _, s := range sims {
		if !strings.Contains(out, "["+s.name+"] ") {
			t.Errorf("no log line names %s", s.name)
		}
	}
	var row string
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(l, "brand-c ") {
			row = l
		}
	}
	if f := strings.Fields(row); len(f) < 9 || f[7] != "2" {
		t.Errorf("brand-c's row is not exit 2: %q", row)
	}
	if !strings.Contains(out, "1 of 5 tenants failed: brand-c (exit 2)") {
		t.Errorf("the last line does not name the failed tenant")
	}

	// The report: every tenant with its result.
	var rep jobsReport
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Tenants) != 5 || rep.ExitCode != exitUsage {
		t.Fatalf("report: %s", b)
	}
	for i, r := range rep.Tenants {
		s := sims[i]
		if r.Name != s.name || r.Dataset != s.ds {
			t.Errorf("report row %d is %s %s, want %s", i, r.Name, r.Dataset, s.name)
		}
		if s.name == "brand-c" {
			if r.ExitCode != exitUsage || !strings.Contains(r.Error, "this tenant's secret comes from secret_") || r.Run != "" {
				t.Errorf("brand-c: %+v", r)
			}
			continue
		}
		if r.ExitCode != exitOK || r.Result != "ok" || r.Run == "" || r.Counts.Tickets != tickets || r.Counts.Inserted != tickets || r.Requests == 0 {
			t.Errorf("%s: %+v", s.name, r)
		}
		// Read back: the dataset holds the one run, with every ticket.
		st, err := dataset.Open(context.Background(), s.ds)
		if err != nil {
			t.Fatal(err)
		}
		runs, err := st.Published(context.Background())
		st.Close()
		if err != nil || len(runs) != 1 || runs[0].Run != r.Run || runs[0].Counts.Tickets != tickets {
			t.Errorf("%s: dataset runs %+v (%v)", s.name, runs, err)
		}
	}
	if r := rep.Tenants[3]; r.Throttled == 0 {
		t.Errorf("brand-d was not throttled: %+v", r)
	}

	// Each simulator saw at most the budget in any second (the limiter's
	// burst is 1: rate + 1), and brand-d's retry waited the Retry-After.
	spans := make([][2]time.Time, len(sims))
	for i, s := range sims {
		var times []time.Time
		var throttledAt time.Time
		for _, r := range s.sim.Log() {
			times = append(times, r.Time)
			if r.Status == 429 {
				throttledAt = r.Time
			} else if !throttledAt.IsZero() && r.Time.Sub(throttledAt) < 900*time.Millisecond {
				t.Errorf("%s: a request %v after the 429 (Retry-After: 1)", s.name, r.Time.Sub(throttledAt))
			}
		}
		if s.name == "brand-d" && throttledAt.IsZero() {
			t.Errorf("brand-d never answered 429")
		}
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		for j := range times {
			n := 0
			for k := j; k < len(times) && times[k].Sub(times[j]) < time.Second; k++ {
				n++
			}
			if n > rate+1 {
				t.Errorf("%s: %d requests within a second from %v", s.name, n, times[j])
			}
		}
		if len(times) > 0 {
			spans[i] = [2]time.Time{times[0], times[len(times)-1]}
		}
	}
	// --parallel 2: two tenants' requests overlap in time, never three.
	most := 0
	for _, sp := range spans {
		at := 0
		for _, o := range spans {
			if !o[0].After(sp[0]) && !o[1].Before(sp[0]) {
				at++
			}
		}
		most = max(most, at)
	}
	if most != 2 {
		t.Errorf("at most %d tenants ran at once, want 2 (--parallel 2)", most)
	}
}

// TestSyncJobsTwoProcessesNeverOverlapATenant runs the same jobs file from
// two processes at once: a tenant one of them holds is reported by the
// other as held (exit 1 in its row), and between them every tenant runs.
// It needs the dataset lease (sync --lease-ttl); until it lands it skips.
func TestSyncJobsTwoProcessesNeverOverlapATenant(t *testing.T) {
	if newSyncCommand(&app{getenv: os.Getenv}).Flags().Lookup("lease-ttl") == nil {
		t.Skip("needs the dataset lease (sync --lease-ttl)")
	}
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := binary(t)
	dir := t.TempDir()
	var yaml strings.Builder
	yaml.WriteString("defaults: {rate: 20/s}\ntenants:\n")
	var sims []jobsSim
	for i, name := range []string{"t1", "t2", "t3"} {
		s := newSim(t, udesktest.Options{Tickets: 300, Seed: int64(i + 1), Latency: 50 * time.Millisecond})
		f := filepath.Join(dir, name+".secret")
		if err := os.WriteFile(f, []byte(s.Secret()), 0o600); err != nil {
			t.Fatal(err)
		}
		js := jobsSim{name: name, sim: s, ds: filepath.Join(dir, name)}
		sims = append(sims, js)
		fmt.Fprintf(&yaml, "  - {name: %s, url: %s, secret_file: %s, dataset: %s}\n", name, s.URL(), f, js.ds)
	}
	jobs := writeJobs(t, dir, yaml.String())
	type result struct {
		code int
		rep  jobsReport
		out  string
	}
	res := make([]result, 2)
	done := make(chan int)
	for p := range 2 {
		go func() {
			report := filepath.Join(dir, fmt.Sprintf("report%d.json", p))
			cmd := exec.Command(bin, "sync", "--jobs", jobs, "--parallel", "3", "--report", report)
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			cmd.Run()
			res[p].code, res[p].out = cmd.ProcessState.ExitCode(), stderr.String()
			if b, err := os.ReadFile(report); err == nil {
				json.Unmarshal(b, &res[p].rep)
			}
			done <- p
		}()
	}
	<-done
	<-done
	for _, s := range sims {
		ran, held := 0, 0
		for p := range 2 {
			for _, r := range res[p].rep.Tenants {
				switch {
				case r.Name != s.name:
				case r.ExitCode == exitOK:
					ran++
				case r.ExitCode == exitFailed && strings.Contains(r.Result, "held by"):
					held++
				default:
					t.Errorf("process %d, %s: %+v\n%s", p, s.name, r, res[p].out)
				}
			}
		}
		st, err := dataset.Open(context.Background(), s.ds)
		if err != nil {
			t.Fatal(err)
		}
		runs, err := st.Published(context.Background())
		st.Close()
		// Both ran it one after the other (2 runs), or one held it while
		// the other ran (1 run); never both at once.
		if err != nil || ran < 1 || len(runs) != ran || ran+held != 2 {
			t.Errorf("%s: ran %d, held %d, %d runs committed (%v)", s.name, ran, held, len(runs), err)
		}
	}
}

// TestSyncJobsLogFormatJSONAndNoSecret runs a jobs file of two tenants
// (secret_env and secret_file) with recognisable secrets, with --debug, in
// both log formats: in json every stderr line is an object with time,
// level and msg, the tenants' lines name their tenant, job and run; in
// neither do the secrets' bytes appear on stdout, stderr, in the report, or
// in any file the runs left (datasets, state, cache).
func TestSyncJobsLogFormatJSONAndNoSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := binary(t)
	dir := t.TempDir()
	secrets := []string{"CANARY-env-5f1d9c2e7a", "CANARY-file-8b3e6d0f4c"}
	a := newSim(t, udesktest.Options{Tickets: 50, Seed: 1, Secret: secrets[0]})
	b := newSim(t, udesktest.Options{Tickets: 50, Seed: 2, Secret: secrets[1]})
	sf := filepath.Join(t.TempDir(), "b.secret") // outside the folder searched
	if err := os.WriteFile(sf, []byte(secrets[1]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	jobs := writeJobs(t, dir, fmt.Sprintf(`defaults: {rate: unlimited}
tenants:
  - {name: env-tenant, url: %s, secret_env: CANARY_SECRET, dataset: %s}
  - {name: file-tenant, url: %s, secret_file: %s, dataset: %s}
`, a.URL(), filepath.Join(dir, "a"), b.URL(), sf, filepath.Join(dir, "b")))
	home := filepath.Join(dir, "home")
	env := append(os.Environ(), "CANARY_SECRET="+secrets[0], "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"))

	var logs []string
	for _, format := range []string{"json", "text"} {
		report := filepath.Join(dir, "report-"+format+".json")
		cmd := exec.Command(bin, "sync", "--jobs", jobs, "--log-format", format, "--debug", "--report", report)
		cmd.Env, cmd.Dir = env, dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", format, err, stderr.String())
		}
		logs = append(logs, stdout.String(), stderr.String())
		if format != "json" {
			continue
		}
		tenants := map[string]bool{}
		for l := range strings.SplitSeq(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
			var line map[string]string
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("stderr line is not a JSON object of strings: %q (%v)", l, err)
			}
			if _, err := time.Parse(time.RFC3339Nano, line["time"]); err != nil || line["level"] == "" || line["msg"] == "" || line["job"] != "sync" {
				t.Errorf("line lacks time, level, msg or job: %q", l)
			}
			if tn := line["tenant"]; tn != "" {
				tenants[tn] = true
				if strings.Contains(line["msg"], "inserted") && line["run"] == "" {
					t.Errorf("a tenant's line after its run began lacks the run: %q", l)
				}
			}
		}
		if !tenants["env-tenant"] || !tenants["file-tenant"] {
			t.Errorf("no lines name the tenants: %v", tenants)
		}
	}
	if !strings.Contains(logs[3], "[env-tenant] ") {
		t.Errorf("text lines lack the tenant prefix:\n%s", logs[3])
	}
	for i, l := range logs {
		for _, s := range secrets {
			if strings.Contains(l, s) {
				t.Errorf("output %d holds a secret:\n%s", i, l)
			}
		}
	}
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret", p)
			}
		}
		return nil
	})
	if err != nil || n < 20 {
		t.Fatalf("walked %d files: %v", n, err)
	}
}

// TestSyncJobsInterruptStopsEveryTenant: Ctrl-C (the command's context)
// stops the tenants running and those not started; the run exits 130 and
// the report says which.
func TestSyncJobsInterruptStopsEveryTenant(t *testing.T) {
	dir := t.TempDir()
	sim := newSim(t, udesktest.Options{Tickets: 1000, Seed: 1})
	jobs := writeJobs(t, dir, fmt.Sprintf(`defaults: {rate: 4/s, url: %s}
tenants:
  - {name: one, secret_env: S, dataset: %s}
  - {name: two, secret_env: S, dataset: %s}
  - {name: three, secret_env: S, dataset: %s}
`, sim.URL(), filepath.Join(dir, "1"), filepath.Join(dir, "2"), filepath.Join(dir, "3")))
	report := filepath.Join(dir, "report.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(1500*time.Millisecond, cancel)
	var stderr bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &stderr,
		getenv: func(k string) string { return map[string]string{"S": sim.Secret()}[k] }}
	code := run(ctx, a, []string{"sync", "--jobs", jobs, "--report", report})
	if code != exitInterrupted {
		t.Fatalf("exit %d, want 130\n%s", code, stderr.String())
	}
	var rep jobsReport
	if b, err := os.ReadFile(report); err != nil || json.Unmarshal(b, &rep) != nil || len(rep.Tenants) != 3 {
		t.Fatalf("report: %v %+v", err, rep)
	}
	for _, r := range rep.Tenants {
		if r.ExitCode != exitInterrupted {
			t.Errorf("%s: %+v", r.Name, r)
		}
	}
	if r := rep.Tenants[2]; !strings.Contains(r.Result, "not started") {
		t.Errorf("three (after two others with --parallel 2): %+v", r)
	}
}

// TestSyncJobsNoAWSSecretInOutputsOrBucket: a tenant whose dataset is a
// bucket of a real S3 server (versitygw), run in both log formats with
// --debug and --report: the AWS secret key and the Udesk secret appear on
// no output, in no report, no file of the bucket and no local state.
func TestSyncJobsNoAWSSecretInOutputsOrBucket(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bucket, files := datasettest.StartS3(t)
	bin := binary(t)
	dir := t.TempDir()
	secrets := []string{os.Getenv("AWS_SECRET_ACCESS_KEY"), "CANARY-udesk-s3-tenant-0c9a71"}
	if len(secrets[0]) < 8 {
		t.Fatalf("the S3 test server's secret %q is no canary", secrets[0])
	}
	sim := newSim(t, udesktest.Options{Tickets: 40, Seed: 3, Secret: secrets[1]})
	jobs := writeJobs(t, dir, fmt.Sprintf("tenants:\n  - {name: lake, url: %s, secret_env: LAKE_SECRET, dataset: %s/udesk/lake, rate: unlimited}\n", sim.URL(), bucket))
	env := append(os.Environ(), "LAKE_SECRET="+secrets[1], "HOME="+filepath.Join(dir, "home"))
	var outs []string
	for _, format := range []string{"json", "text"} {
		report := filepath.Join(dir, "report-"+format+".json")
		cmd := exec.Command(bin, "sync", "--jobs", jobs, "--log-format", format, "--debug", "--report", report)
		cmd.Env, cmd.Dir = env, dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", format, err, stderr.String())
		}
		outs = append(outs, stdout.String(), stderr.String())
	}
	for i, o := range outs {
		for _, s := range secrets {
			if strings.Contains(o, s) {
				t.Errorf("output %d holds a secret:\n%s", i, o)
			}
		}
	}
	n := 0
	for _, root := range []string{dir, files} {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			n++
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s holds a secret", p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 20 {
		t.Fatalf("only %d files walked", n)
	}
}

// TestLogFormatJSONOnEveryCommand: --log-format json is a flag of every
// command; a run's lines, and a usage error's, are JSON objects naming the
// command as the job.
func TestLogFormatJSONOnEveryCommand(t *testing.T) {
	sim := newSim(t, udesktest.Options{Tickets: 30, Seed: 4})
	out := filepath.Join(t.TempDir(), "t.jsonl")
	for _, tc := range []struct {
		args []string
		code int
		job  string
	}{
		{[]string{"export", "-o", out, "--log-format", "json"}, exitOK, "export"},
		{[]string{"--log-format=json", "sync", "--dataset", filepath.Join(t.TempDir(), "ds")}, exitOK, "sync"},
		{[]string{"export", "--log-format", "json", "--fitler", "2"}, exitUsage, ""},
	} {
		code, _, stderr := runCLI(t, simEnv(sim), tc.args...)
		if code != tc.code {
			t.Fatalf("%v: exit %d\n%s", tc.args, code, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		for _, l := range lines {
			var line map[string]string
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("%v: stderr line is not a JSON object: %q", tc.args, l)
			}
			if line["time"] == "" || line["level"] == "" || line["msg"] == "" || line["job"] != tc.job {
				t.Errorf("%v: %q lacks time, level, msg or job %q", tc.args, l, tc.job)
			}
		}
		if last := lines[len(lines)-1]; tc.code != exitOK && !strings.Contains(last, `"level":"error"`) {
			t.Errorf("%v: the last line is not an error: %s", tc.args, last)
		}
	}
	if code, _, stderr := runCLI(t, nil, "fields", "--log-format", "yaml"); code != exitUsage || !strings.Contains(stderr, "want text or json") {
		t.Errorf("--log-format yaml: exit %d\n%s", code, stderr)
	}
}
