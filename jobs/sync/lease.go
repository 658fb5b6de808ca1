package sync

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/udesk"
)

// DefaultLeaseTTL is how long a run's lease on its dataset lasts unrenewed:
// how long a killed run of another host keeps the dataset from the next.
const DefaultLeaseTTL = 5 * time.Minute

// openLeased opens the dataset and takes its lease, before any state is
// read or written, so that two runs of one dataset never overlap, from any
// machine. A run that would create the dataset (a new local folder) or
// writes to a bucket first checks the credentials (asks Udesk for the field
// catalog), so that a wrong secret or URL leaves no folder, lease or state
// behind; the listing reuses that catalog, so the check costs no request.
// release gives the lease up and closes the store.
func (o *Options) openLeased(ctx context.Context, api API) (_ *dataset.Store, _ API, release func(), err error) {
	bucket := strings.HasPrefix(o.Dataset, "s3://")
	var fields []udesk.Field
	if !bucket && newFolder(o.Dataset) {
		if fields, err = api.Fields(ctx); err != nil {
			return nil, nil, nil, err
		}
	}
	store, err := dataset.Open(ctx, o.Dataset, dataset.WithCatalog(o.Catalog))
	if err != nil {
		return nil, nil, nil, err
	}
	lease, err := store.AcquireLease(ctx, dataset.LeaseOptions{TTL: o.LeaseTTL, Now: o.Now})
	if err != nil {
		store.Close()
		return nil, nil, nil, err
	}
	release = func() {
		// Given up even when the run was cancelled: the next run need not
		// wait for it to expire.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := lease.Release(rctx); err != nil {
			o.Observer.Logf("sync: giving the lease up: %v (it expires by itself)", err)
		}
		store.Close()
	}
	if bucket {
		if fields, err = api.Fields(ctx); err != nil {
			release()
			return nil, nil, nil, err
		}
	}
	if t := lease.TakenOver; t != nil {
		o.Observer.Logf("sync: took over the lease of a run that is gone (%s)", t)
	}
	o.guard = lease.Check
	if fields != nil {
		api = &checked{API: api, fields: fields}
	}
	return store, api, release, nil
}

// newFolder reports whether target is a local dataset folder that does not
// exist yet or is empty: a first run would create it.
func newFolder(target string) bool {
	entries, err := os.ReadDir(target)
	return errors.Is(err, fs.ErrNotExist) || err == nil && len(entries) == 0
}

// checked is the API after the credential check: its first Fields is the
// catalog the check read.
type checked struct {
	API
	fields []udesk.Field
}

func (c *checked) Fields(ctx context.Context) ([]udesk.Field, error) {
	if f := c.fields; f != nil {
		c.fields = nil
		return f, nil
	}
	return c.API.Fields(ctx)
}
