package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Log formats (--log-format).
const (
	logText = "text"
	logJSON = "json"
)

// logFormatArg is the --log-format value on a command line, read before the
// command's flags are parsed so that even a usage error is logged in it.
func logFormatArg(args []string) string {
	for i, arg := range args {
		if arg == "--" {
			break
		}
		switch {
		case arg == "--log-format" || arg == "-log-format":
			if i+1 < len(args) {
				return args[i+1]
			}
		case strings.HasPrefix(arg, "--log-format="), strings.HasPrefix(arg, "-log-format="):
			_, v, _ := strings.Cut(arg, "=")
			return v
		}
	}
	return ""
}

// lineWriter passes each whole line written to it to emit (without its
// newline); a partial line waits for the rest, or for flush.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(line string)
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		l.emit(line)
	}
}

// flush emits a last line written without its newline.
func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(string(l.buf))
		l.buf = nil
	}
}

// errorLogger is a log writer that can mark a line as an error (the
// message a command ends with).
type errorLogger interface {
	logError(msg string)
}

// prefixLog is a tenant's text log in jobs mode: each line starts with
// "[tenant] ".
type prefixLog struct {
	lineWriter
}

func newPrefixLog(w io.Writer, tenant string) *prefixLog {
	p := &prefixLog{}
	p.emit = func(line string) { fmt.Fprintf(w, "[%s] %s\n", tenant, line) }
	return p
}

// jsonLog writes each line as one JSON object (time, level, tenant, job,
// run, msg) for log shippers: "warning…" lines are level warn, "debug: "
// lines debug, the message a command ends with error.
type jsonLog struct {
	lineWriter
	w      io.Writer // takes whole writes from several goroutines
	now    func() time.Time
	tenant string
	job    *string // the command, set once it is known; shared with children
	runMu  sync.Mutex
	run    string
}

func newJSONLog(w io.Writer, job *string) *jsonLog {
	j := &jsonLog{w: w, now: time.Now, job: job}
	j.emit = func(line string) { j.write("", line) }
	return j
}

// forTenant is the log of one tenant of a jobs file: same output, the
// tenant's name in every line.
func (j *jsonLog) forTenant(name string) *jsonLog {
	c := newJSONLog(j.w, j.job)
	c.now, c.tenant = j.now, name
	return c
}

func (j *jsonLog) logError(msg string) { j.write("error", msg) }

// logResult is a tenant's line of a jobs run's summary, with its run.
func (j *jsonLog) logResult(run, level, msg string) {
	j.runMu.Lock()
	if j.run == "" {
		j.run = run
	}
	j.runMu.Unlock()
	j.write(level, msg)
}

// runName finds the run a line names ("new run 20261201T020000Z"): later
// lines of the log carry it.
var runName = regexp.MustCompile(`\brun (\d{8}T\d{6}Z)\b`)

type jsonLine struct {
	Time   string `json:"time"`
	Level  string `json:"level"`
	Tenant string `json:"tenant,omitempty"`
	Job    string `json:"job,omitempty"`
	Run    string `json:"run,omitempty"`
	Msg    string `json:"msg"`
}

func (j *jsonLog) write(level, line string) {
	line = strings.TrimPrefix(line, "\r\x1b[K")
	// A progress or log line's own stamp (seconds) gives way to the
	// object's time.
	if stamp, rest, ok := strings.Cut(line, " "); ok {
		if _, err := time.Parse(time.RFC3339, stamp); err == nil {
			line = rest
		}
	}
	if strings.TrimSpace(line) == "" {
		return
	}
	if level == "" {
		switch {
		case strings.HasPrefix(line, "warning"):
			level = "warn"
		case strings.HasPrefix(line, "debug: "):
			level, line = "debug", strings.TrimPrefix(line, "debug: ")
		default:
			level = "info"
		}
	}
	j.runMu.Lock()
	if m := runName.FindStringSubmatch(line); m != nil && j.run == "" {
		j.run = m[1]
	}
	rec := jsonLine{Time: j.now().UTC().Format(time.RFC3339Nano), Level: level, Tenant: j.tenant, Job: *j.job, Run: j.run, Msg: line}
	j.runMu.Unlock()
	b, _ := json.Marshal(rec) // strings only: cannot fail
	j.w.Write(append(b, '\n'))
}
