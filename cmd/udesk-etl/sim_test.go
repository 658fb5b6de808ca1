package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The simulator as a new user starts it: `udesk-etl sim` in one process, its
// first two stdout lines read for the URL and the secret, then `fields` and
// `filters` against it from another process; a wrong secret gets the API's
// signing error and a non-zero exit.
func TestSimStartedByHand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := binary(t)
	sim := exec.Command(bin, "sim", "--addr", "127.0.0.1:0", "--tickets", "20", "--secret", "by-hand-secret")
	out, err := sim.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Process.Kill(); sim.Wait() })
	lines := make(chan string, 2)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var url, secret string
	for i, dst := range []*string{&url, &secret} {
		select {
		case *dst = <-lines:
		case <-time.After(10 * time.Second):
			t.Fatalf("sim printed %d of its 2 lines", i)
		}
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Fatalf("first line %q is not the simulator's URL with its real port", url)
	}
	if secret != "by-hand-secret" {
		t.Fatalf("second line %q, want the secret", secret)
	}

	tool := func(secret string, args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "UDESK_URL="+url, "UDESK_SECRET="+secret, "UDESK_RATE=unlimited")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	}
	if code, stdout, stderr := tool(secret, "fields"); code != 0 || !strings.Contains(stdout, "SelectField_3") || !strings.Contains(stdout, "多选框字段") {
		t.Errorf("fields: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, stderr := tool(secret, "filters"); code != 0 || !strings.Contains(stdout, "紧急工单") {
		t.Errorf("filters: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr := tool("not-the-secret", "fields")
	if code == 0 || !strings.Contains(stderr, "签名错") {
		t.Errorf("wrong secret: exit %d, want non-zero with the signing error\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "not-the-secret") {
		t.Error("the wrong secret was printed")
	}
}
