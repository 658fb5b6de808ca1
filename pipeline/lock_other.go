//go:build !unix

package pipeline

import "os"

// lockDir takes the folder's lock as an exclusive-create lock file naming
// this process (pidLock): there is no flock here.
func lockDir(dir string) (unlock func(), busy bool, err error) {
	return pidLock(dir, processAlive)
}

// processAlive says whether a process with this id runs: where there is no
// flock (Windows), finding a process opens it, which fails once it ended.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
