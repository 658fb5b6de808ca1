package main

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

const relCanary = "canary-secret-7f3a9c1e-DO-NOT-LEAK"

// relSignatures recomputes the sign of every request the simulator saw (its
// log keeps the query with sign redacted).
func relSignatures(sim *udesktest.Server, secret string) map[string]bool {
	signs := map[string]bool{}
	for _, r := range sim.Log() {
		var kept []string
		for _, p := range strings.Split(r.Query, "&") {
			if p != "" && !strings.HasPrefix(p, "sign=") {
				kept = append(kept, p)
			}
		}
		q := strings.Join(kept, "&")
		var sum [16]byte
		if q == "" {
			sum = md5.Sum([]byte(secret))
		} else {
			sum = md5.Sum([]byte(q + "&" + secret))
		}
		signs[hex.EncodeToString(sum[:])] = true
	}
	return signs
}

// relSignParam is a sign parameter, percent-encoded once or twice too.
var relSignParam = regexp.MustCompile(`(?i)sign(=|%3D|%253D)[0-9a-f]{32}`)

// TestSecretsNeverLeak runs every command that talks to Udesk with a canary
// secret, --debug and faults of every kind on every endpoint (plus a wrong
// secret and --secret-file), then looks for the canary and for every
// signature the runs sent in all of their stdout, stderr and files: state,
// results, outputs and reports. State and results files must be 0600.
func TestSecretsNeverLeak(t *testing.T) {
	faults, err := udesktest.ParseFaults("500=0.04,502=0.03,503=0.03,429-bare=0.03,html=0.03,html-502=0.03,reset-before=0.03,reset-after=0.03,cut=0.03,seed=5")
	if err != nil {
		t.Fatal(err)
	}
	sim := newSim(t, udesktest.Options{Secret: relCanary, Tickets: 250, Seed: 9, Faults: faults})
	dir := t.TempDir()
	env := relSimEnv(sim)
	var texts []string
	// The real binary: its real stdout and stderr are what a user sees.
	cli := func(env []string, args ...string) int {
		t.Helper()
		r := relRun(t, dir, env, 2*time.Minute, 0, args...)
		texts = append(texts, r.stdout, r.stderr)
		relNoPanic(t, strings.Join(args, " "), r.stderr)
		return r.code
	}
	out := func(name string) string { return filepath.Join(dir, name) }

	cli(env, "fields", "--debug")
	cli(env, "fields", "--debug", "-o", out("fields.json"))
	cli(env, "filters", "--debug")
	cli(env, "export", "--debug", "-o", out("t.csv"), "-o", out("t.xlsx"), "-o", out("t.jsonl"), "-o", out("t.parquet"), "--report", out("export.json"))
	cli(env, "export", "--debug", "--ids", "1,2,3,999999", "-o", "-", "-o", out("ids.csv"), "--report", out("ids.json"))

	creates := relCreateRows("secret", 15, []string{"s1@example.com", "s2@example.com"})
	writeCSVTest(t, out("create.csv"), creates)
	cli(env, "import", "--create", "--debug", "-i", out("create.csv"), "--report", out("create.json"))
	cli(env, "import", "--create", "--debug", "--dry-run", "-i", out("create.csv"), "--results", out("dry"))
	replies := [][]string{{"id", "reply_content", "email"}}
	for i := 1; i <= 5; i++ {
		tk, _ := sim.Ticket(int64(i))
		replies = append(replies, []string{strconv.Itoa(i), "reply " + strconv.Itoa(i), tk.UserEmail})
	}
	writeCSVTest(t, out("reply.csv"), replies)
	cli(env, "import", "--reply", "--debug", "-i", out("reply.csv"), "--results", out("reply-results"))
	cli(env, "convert", "--debug", "-i", out("create.csv"), "-o", out("converted.jsonl"))

	secretFile := out("secret")
	os.WriteFile(secretFile, []byte(relCanary+"\n"), 0o600)
	cli([]string{"UDESK_URL=" + sim.URL(), "UDESK_SECRET=", "UDESK_RATE=unlimited"}, "fields", "--debug", "--secret-file", secretFile)
	wrong := []string{"UDESK_URL=" + sim.URL(), "UDESK_SECRET=" + relCanary + "-wrong", "UDESK_RATE=unlimited"}
	if code := cli(wrong, "fields", "--debug"); code == exitOK {
		t.Errorf("a wrong secret was accepted")
	}
	// A failure of the signing check must not print the signed URL either.
	cli(wrong, "export", "--debug", "-o", out("wrong.jsonl"))
	// A proxy's redirect to a login page echoes the signed request URI,
	// percent-encoded, in its Location and body: export and import must not
	// carry it into anything they print or keep.
	redirects := 0
	for _, ep := range []string{"fields", "list", "create"} {
		sim.FailNext(ep, udesktest.FaultRedirect, 1)
		redirects++
		switch ep {
		case "fields", "list":
			cli(env, "export", "--debug", "-o", out("redirect-"+ep+".jsonl"), "--report", out("redirect-"+ep+".json"))
		case "create":
			writeCSVTest(t, out("redirect.csv"), relCreateRows("redirect", 3, []string{"r@example.com"}))
			cli(env, "import", "--create", "--debug", "-i", out("redirect.csv"), "--results", out("redirect-results"), "--report", out("redirect-import.json"))
		}
	}

	signs := relSignatures(sim, relCanary)
	for s := range relSignatures(sim, relCanary+"-wrong") {
		signs[s] = true
	}
	// Requests with the same query share a signature (every create is
	// signed md5(secret)): few distinct ones, many requests.
	faulted, redirected := 0, 0
	for _, r := range sim.Log() {
		if r.Fault != "" {
			faulted++
		}
		if r.Fault == udesktest.FaultRedirect {
			redirected++
		}
	}
	if redirected != redirects {
		t.Fatalf("%d requests redirected, want %d: the runs proved nothing about redirects", redirected, redirects)
	}
	md5Secret := md5.Sum([]byte(relCanary))
	signs[hex.EncodeToString(md5Secret[:])] = true
	// Every sign in the encodings a reply, a log line or a file could hold
	// it: hex in either case (found below), and base64 of its bytes.
	var signForms []string
	for s := range signs {
		b, _ := hex.DecodeString(s)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			signForms = append(signForms, enc.EncodeToString(b))
		}
	}
	secretForms := []string{relCanary, url.QueryEscape(relCanary), base64.StdEncoding.EncodeToString([]byte(relCanary))}
	if n := len(sim.Log()); n < 40 || faulted < 5 || len(signs) < 5 {
		t.Fatalf("%d requests, %d with a fault, %d distinct signatures: the runs did too little to prove anything", n, faulted, len(signs))
	}
	hexWord := regexp.MustCompile(`(?i)[0-9a-f]{32}`)
	check := func(where, text string) {
		t.Helper()
		for _, f := range secretForms {
			if strings.Contains(strings.ToLower(text), strings.ToLower(f)) {
				t.Errorf("%s: holds the secret (as %q)", where, f)
			}
		}
		if m := relSignParam.FindString(text); m != "" {
			t.Errorf("%s: holds a signature: %s", where, m)
		}
		for _, word := range hexWord.FindAllString(text, -1) {
			if signs[strings.ToLower(word)] {
				t.Errorf("%s: holds the signature %s of a request (or md5 of the secret)", where, word)
			}
		}
		for _, f := range signForms {
			if strings.Contains(text, f) {
				t.Errorf("%s: holds a signature in base64: %s", where, f)
			}
		}
	}
	for i, text := range texts {
		check("output "+strconv.Itoa(i), text)
	}
	if !strings.Contains(strings.Join(texts, ""), "sign=REDACTED") {
		t.Errorf("--debug printed no request: the test proves nothing")
	}
	files := relFiles(t, dir)
	for _, f := range files {
		if f == "secret" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		check(f, string(b))
	}

	// State and results: owner only.
	var state, results int
	for _, f := range files {
		private := strings.HasPrefix(f, ".udesk-etl/") || strings.Contains(f, "-results") || strings.HasPrefix(f, "dry/")
		if !private {
			continue
		}
		if strings.HasPrefix(f, ".udesk-etl/") {
			state++
		} else {
			results++
		}
		fi, _ := os.Stat(filepath.Join(dir, f))
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	filepath.WalkDir(filepath.Join(dir, ".udesk-etl"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if fi, _ := d.Info(); fi.Mode().Perm() != 0o700 {
				t.Errorf("state folder %s: mode %v, want 0700", p, fi.Mode().Perm())
			}
		}
		return nil
	})
	if state == 0 || results == 0 {
		t.Fatalf("%d state files and %d results files checked: the runs kept none", state, results)
	}
	t.Logf("%d requests (%d with a fault); %d outputs and %d files (%d state, %d results) checked for the secret and %d signatures", len(sim.Log()), faulted, len(texts), len(files), state, results, len(signs))
}
