package pipeline

import (
	"errors"

	"golang.org/x/sync/errgroup"
)

// Tee returns a RowWriter that writes the same rows to every writer, the
// writers working at once. Commit commits them in the order given and, when
// one fails, aborts those not committed yet: put first what must never be
// missing once a later one exists (the original rows before the file edited
// from them). Abort aborts them all.
func Tee(writers ...RowWriter) RowWriter {
	if len(writers) == 1 {
		return writers[0]
	}
	return tee(writers)
}

type tee []RowWriter

func (t tee) WriteRows(rows []Row) error {
	var g errgroup.Group
	for _, w := range t {
		g.Go(func() error { return w.WriteRows(rows) })
	}
	return g.Wait()
}

func (t tee) Commit() error {
	for i, w := range t {
		if err := w.Commit(); err != nil {
			return errors.Join(err, tee(t[i+1:]).Abort())
		}
	}
	return nil
}

func (t tee) Abort() error {
	errs := make([]error, len(t))
	for i, w := range t {
		errs[i] = w.Abort()
	}
	return errors.Join(errs...)
}
