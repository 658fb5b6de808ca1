package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// The crash tests run the real binary as a child process and SIGKILL it, so
// that nothing of the in-process test (deferred closes, buffered writes)
// softens the crash. The binary is built once, on first use.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	// Imports register their state in the user's cache folder: the tests'
	// go to a folder of their own.
	cache, err := os.MkdirTemp("", "udesk-etl-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The go command finds its build cache through XDG_CACHE_HOME too:
	// pinned first, the tests' builds of the tool reuse it instead of
	// compiling every dependency again (minutes on two cores).
	if os.Getenv("GOCACHE") == "" {
		if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
			os.Setenv("GOCACHE", strings.TrimSpace(string(out)))
		}
	}
	os.Setenv("XDG_CACHE_HOME", cache)
	code := m.Run()
	os.RemoveAll(cache)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "udesk-etl-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "udesk-etl")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// crashUntilDone runs the import, SIGKILLs it at seeded random moments at
// least minKills times, then lets a run finish and returns its exit code.
func crashUntilDone(t *testing.T, sim *udesktest.Server, seed int64, minKills int, args ...string) (int, string) {
	t.Helper()
	return crashWithin(t, sim, seed, minKills, afterDelay(150*time.Millisecond), args...)
}

// killAt picks, for one run, when it is killed: once ready reports true,
// after pause; point says when, for the log.
type killAt func(rng *rand.Rand, sim *udesktest.Server) (ready func() bool, pause time.Duration, point string)

// afterDelay kills a run 10 ms to max after it starts.
func afterDelay(max time.Duration) killAt {
	return func(rng *rand.Rand, _ *udesktest.Server) (func() bool, time.Duration, string) {
		d := 10*time.Millisecond + time.Duration(rng.Int64N(int64(max-10*time.Millisecond)))
		return func() bool { return true }, d, d.String()
	}
}

// afterRequests kills a run once the simulator has had 1 to max more
// requests: a point in the run's work, however fast the machine or the tool.
func afterRequests(max int) killAt {
	return func(rng *rand.Rand, sim *udesktest.Server) (func() bool, time.Duration, string) {
		count := func() (n int) {
			for _, c := range sim.Requests() {
				n += c
			}
			return n
		}
		base, after := count(), 1+rng.IntN(max)
		return func() bool { return count()-base >= after }, 0, fmt.Sprintf("%d requests", after)
	}
}

// crashWithin is crashUntilDone with each killed run killed at kill.
func crashWithin(t *testing.T, sim *udesktest.Server, seed int64, minKills int, kill killAt, args ...string) (int, string) {
	t.Helper()
	bin := binary(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	t.Logf("crash seed %d", seed)
	env := append(os.Environ(), "UDESK_URL="+sim.URL(), "UDESK_SECRET="+sim.Secret(), "UDESK_RATE=unlimited")
	kills := 0
	var delays []string
	for run := 0; run < 100; run++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		stop := make(chan struct{})
		ready, pause, point := kill(rng, sim)
		if kills < minKills {
			killWhen(cmd, stop, ready, pause)
		}
		err := cmd.Wait()
		cancel()
		close(stop)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				kills++
				delays = append(delays, point)
				continue
			}
		}
		t.Logf("%d kills, after %s; last run: %s", kills, strings.Join(delays, " "), strings.TrimSpace(stderr.String()))
		if kills < minKills {
			t.Fatalf("the import finished after only %d kills; make it longer", kills)
		}
		if err != nil && ee == nil {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), stderr.String()
	}
	t.Fatal("the import never finished")
	return 0, ""
}

// resultRows reads success.csv and errors.csv of the one results folder.
func resultRows(t *testing.T, input, op string) (ok map[int]string, failed map[int]string) {
	t.Helper()
	res := resultsDir(t, input, op+"-results")
	ok, failed = map[int]string{}, map[int]string{}
	for _, r := range readCSV(t, filepath.Join(res, "success.csv"))[1:] {
		n, _ := strconv.Atoi(r[0])
		if _, dup := ok[n]; dup {
			t.Errorf("success.csv lists row %d twice", n)
		}
		ok[n] = r[1]
	}
	errs := readCSV(t, filepath.Join(res, "errors.csv"))
	for _, r := range errs[1:] {
		// The input's first column is the row's own key here.
		n, _ := strconv.Atoi(strings.TrimPrefix(r[len(r)-1][:strings.Index(r[len(r)-1], ":")], "row "))
		failed[n] = r[len(r)-2]
	}
	return ok, failed
}

func TestImportCrashCreateExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the binary again and again")
	}
	seed := time.Now().UnixNano() % 100000
	faults, err := udesktest.ParseFaults(fmt.Sprintf("reset-after@create=0.15,seed=%d", seed))
	if err != nil {
		t.Fatal(err)
	}
	sim := newSim(t, udesktest.Options{Latency: 20 * time.Millisecond, Faults: faults})
	in := filepath.Join(t.TempDir(), "crash.csv")
	const n = 200
	recs := [][]string{{"subject", "content", "email"}}
	for i := 0; i < n; i++ {
		// Few customers, so that settling looks through many tickets.
		recs = append(recs, []string{fmt.Sprintf("crash-%d-%03d", seed, i), "content " + strconv.Itoa(i%3), fmt.Sprintf("c%d@example.com", i%5)})
	}
	writeCSVTest(t, in, recs)
	code, stderr := crashUntilDone(t, sim, seed, 10, "import", "--create", "-i", in, "--quiet")
	if code != exitOK {
		t.Fatalf("final run: exit %d: %s", code, stderr)
	}
	got := ticketsBySubject(sim)
	dups, missing := 0, 0
	for _, r := range recs[1:] {
		switch len(got[r[0]]) {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
	}
	if dups != 0 || missing != 0 || len(sim.Tickets()) != n {
		t.Fatalf("%d duplicates, %d missing, %d tickets for %d rows", dups, missing, len(sim.Tickets()), n)
	}
	ok, failed := resultRows(t, in, "create")
	if len(ok) != n || len(failed) != 0 {
		t.Fatalf("success.csv %d rows, errors.csv %d rows", len(ok), len(failed))
	}
	for row, id := range ok {
		tk := ticketsBySubject(sim)[recs[row-1][0]]
		if fmt.Sprint(tk[0].ID) != id {
			t.Errorf("row %d: success.csv says ticket %s, the row's ticket is %d", row, id, tk[0].ID)
		}
	}
	t.Logf("%d rows, 0 duplicates, 0 missing; requests %v", n, sim.Requests())
}

func TestImportCrashUpdateNeverDuplicatesComments(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the binary again and again")
	}
	seed := time.Now().UnixNano() % 100000
	faults, err := udesktest.ParseFaults(fmt.Sprintf("reset-after@update=0.15,seed=%d", seed))
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	sim := newSim(t, udesktest.Options{Tickets: n, Seed: seed, Latency: 20 * time.Millisecond, Faults: faults})
	in := filepath.Join(t.TempDir(), "upd.csv")
	recs := [][]string{{"id", "subject", "comment_function", "comment_author_email", "comment_body"}}
	for i := 1; i <= n; i++ {
		r := []string{strconv.Itoa(i), fmt.Sprintf("upd-%d-%d", seed, i), "", "", ""}
		if i%2 == 1 {
			r[2], r[3], r[4] = "internal", "agent@sample.com", fmt.Sprintf("note-%d-%d", seed, i)
		}
		recs = append(recs, r)
	}
	writeCSVTest(t, in, recs)
	code, stderr := crashUntilDone(t, sim, seed, 10, "import", "--update", "-i", in, "--quiet")
	if code != exitOK && code != exitRejected {
		t.Fatalf("final run: exit %d: %s", code, stderr)
	}
	ok, failed := resultRows(t, in, "update")
	unknown := 0
	for i := 1; i <= n; i++ {
		row := i + 1
		tk, _ := sim.Ticket(int64(i))
		notes := 0
		for _, r := range sim.Replies(int64(i)) {
			if r.Body == recs[i][4] {
				notes++
			}
		}
		_, isOK := ok[row]
		code, isFailed := failed[row]
		switch {
		case isOK == isFailed:
			t.Errorf("row %d: in success.csv %v, in errors.csv %v", row, isOK, isFailed)
		case isOK && tk.Subject != recs[i][1]:
			t.Errorf("row %d: written but ticket %d has subject %q", row, i, tk.Subject)
		case isOK && i%2 == 1 && notes != 1:
			t.Errorf("row %d: written, ticket %d has the comment %d times", row, i, notes)
		case isFailed && (code != "outcome_unknown" || i%2 == 0 || notes > 1):
			t.Errorf("row %d: failed %s (plain update: %v), comment %d times", row, code, i%2 == 0, notes)
		}
		if isFailed {
			unknown++
		}
	}
	t.Logf("%d rows: %d written, %d outcome unknown (never resent)", n, len(ok), unknown)
}

func TestImportCrashReplyNeverDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the binary again and again")
	}
	seed := time.Now().UnixNano() % 100000
	faults, err := udesktest.ParseFaults(fmt.Sprintf("reset-after@reply=0.15,seed=%d", seed))
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	sim := newSim(t, udesktest.Options{Tickets: n, Seed: seed, Latency: 20 * time.Millisecond, Faults: faults})
	in := filepath.Join(t.TempDir(), "rep.csv")
	recs := [][]string{{"id", "reply_content", "email"}}
	for i := 1; i <= n; i++ {
		tk, _ := sim.Ticket(int64(i))
		email := tk.UserEmail
		if email == "" {
			email = "nobody@example.com" // refused by the server: a permanent error
		}
		recs = append(recs, []string{strconv.Itoa(i), fmt.Sprintf("reply-%d-%d", seed, i), email})
	}
	writeCSVTest(t, in, recs)
	code, stderr := crashUntilDone(t, sim, seed, 10, "import", "--reply", "-i", in, "--quiet")
	if code != exitOK && code != exitRejected {
		t.Fatalf("final run: exit %d: %s", code, stderr)
	}
	ok, failed := resultRows(t, in, "reply")
	unknown := 0
	for i := 1; i <= n; i++ {
		row := i + 1
		count := 0
		for _, r := range sim.Replies(int64(i)) {
			if r.Body == recs[i][1] {
				count++
			}
		}
		_, isOK := ok[row]
		code, isFailed := failed[row]
		switch {
		case isOK == isFailed:
			t.Errorf("row %d: in success.csv %v, in errors.csv %v", row, isOK, isFailed)
		case isOK && count != 1:
			t.Errorf("row %d: replied, ticket %d has the reply %d times", row, i, count)
		case isFailed && code == "outcome_unknown" && count > 1:
			t.Errorf("row %d: outcome unknown, reply added %d times", row, count)
		case isFailed && code != "outcome_unknown" && count != 0:
			t.Errorf("row %d: failed %s but the reply is there %d times", row, code, count)
		}
		if code == "outcome_unknown" {
			unknown++
		}
	}
	t.Logf("%d rows: %d replied, %d outcome unknown (never resent), %d refused", n, len(ok), unknown, len(failed)-unknown)
}
