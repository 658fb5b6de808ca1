package dataset

import "fmt"

// PublishedError is a failure after the run was published: the run is
// committed (a rerun starts the next run), only what followed failed, such
// as removing old snapshots or marking the job's state complete.
type PublishedError struct {
	Run string
	Err error
}

func (e *PublishedError) Error() string {
	return fmt.Sprintf("run %s is committed, but %v", e.Run, e.Err)
}

func (e *PublishedError) Unwrap() error { return e.Err }
