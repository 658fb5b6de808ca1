// Package pipelinetest holds helpers for the tests of the jobs (jobs/...):
// an Observer that keeps the log lines, the check of state folders' modes.
package pipelinetest

import (
	"fmt"
	"strings"
	"sync"

	"github.com/udesk-etl/udesk-etl/pipeline"
)

// Log is a pipeline.Observer that shows no progress and keeps the log lines,
// for tests that check what a job said.
type Log struct {
	pipeline.Quiet
	mu    sync.Mutex
	lines []string
}

func (l *Log) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

// Lines returns the lines logged so far.
func (l *Log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// String is the lines logged so far, one per line.
func (l *Log) String() string { return strings.Join(l.Lines(), "\n") }
