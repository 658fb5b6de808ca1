package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// On a terminal, the import draws a bar with the input's row count, the
// percentage and an ETA.
func TestImportBarOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs an import of a few seconds")
	}
	sim := newSim(t, udesktest.Options{Latency: 10 * time.Millisecond})
	dir := t.TempDir()
	in := filepath.Join(dir, "new.csv")
	rows := [][]string{{"subject", "content", "email"}}
	for i := range 150 {
		rows = append(rows, []string{fmt.Sprintf("s%d", i), "c", "a@example.com"})
	}
	writeCSVTest(t, in, rows)

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	cmd := exec.Command(binary(t), "import", "--create", "-i", in, "--concurrency", "1")
	cmd.Env = append(os.Environ(), "UDESK_URL="+sim.URL(), "UDESK_SECRET="+sim.Secret(), "UDESK_RATE=unlimited")
	cmd.Stderr = tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&out, ptmx); close(copied) }()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("import: %v\n%s", err, out.String())
	}
	ptmx.Close()
	<-copied
	bar := regexp.MustCompile(`\rimport  *\d+% \|[█ ]*\| \(\d+/150, \d+ rows/(s|min|hr)\) \[\w+:\w+\]`)
	if !bar.MatchString(out.String()) {
		t.Errorf("no bar with the total, percentage and ETA on the terminal:\n%q", out.String())
	}
	if !strings.Contains(out.String(), "import --create: 150 read, 150 written") {
		t.Errorf("no summary:\n%q", out.String())
	}
}
