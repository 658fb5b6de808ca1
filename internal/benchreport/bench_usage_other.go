//go:build !unix

package benchreport

import "os"

// childUsage returns a finished child's CPU time; peak memory is not available here.
func childUsage(ps *os.ProcessState) (cpu, maxRSSMiB float64) {
	return ps.UserTime().Seconds() + ps.SystemTime().Seconds(), 0
}
