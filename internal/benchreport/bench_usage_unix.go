//go:build unix

package benchreport

import (
	"os"
	"runtime"
	"syscall"
)

// childUsage returns a finished child's CPU time (user + system, seconds) and peak
// resident set size (MiB).
func childUsage(ps *os.ProcessState) (cpu, maxRSSMiB float64) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return ps.UserTime().Seconds() + ps.SystemTime().Seconds(), 0
	}
	rss := float64(ru.Maxrss) / 1024 // KiB on Linux and the BSDs
	if runtime.GOOS == "darwin" {
		rss /= 1024 // bytes on macOS
	}
	return ps.UserTime().Seconds() + ps.SystemTime().Seconds(), rss
}
