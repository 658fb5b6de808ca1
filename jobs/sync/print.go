package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/udesk-etl/udesk-etl/jobs/dataset"
	"github.com/udesk-etl/udesk-etl/pipeline"
)

// PrintRun writes the line that states what the run committed.
func (rep *Report) PrintRun(w io.Writer) {
	kind := "full"
	if !rep.Full {
		kind = "changed-filter"
	}
	c := rep.Run.Counts
	fmt.Fprintf(w, "  run %s (%s) in %s: %d tickets: %d inserted, %d updated, %d deleted, %d unchanged, %d recovered; %d requests\n",
		rep.Run.Run, kind, rep.Dataset, c.Tickets, c.Inserted, c.Updated, c.Deleted, c.Unchanged, c.Recovered, rep.Run.Requests)
}

// PrintStatus writes a dataset's committed runs and the last run's
// changes: what a reader checks without a query engine. A local folder
// that does not exist is refused (*pipeline.ConfigError), not created and
// reported as 0 runs.
func PrintStatus(ctx context.Context, w io.Writer, target string, opts ...dataset.OpenOption) error {
	if !strings.HasPrefix(target, "s3://") {
		if _, err := os.Stat(target); errors.Is(err, fs.ErrNotExist) {
			return pipeline.Configf("no dataset at %s: the folder does not exist (check the path given to --dataset)", target)
		}
	}
	s, err := dataset.Open(ctx, target, opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	runs, err := s.Published(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "dataset %s: %d runs\n", s, len(runs))
	if len(runs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tFINISHED\tSELECTOR\tTICKETS\tINSERTED\tUPDATED\tDELETED\tUNCHANGED\tRECOVERED\tREQUESTS\tSNAPSHOT")
	for _, r := range runs {
		c := r.Counts
		snap := "expired"
		if r.Snapshot != 0 {
			snap = fmt.Sprint(r.Snapshot)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Run, r.Finished.Format(time.RFC3339), r.Selector,
			c.Tickets, c.Inserted, c.Updated, c.Deleted, c.Unchanged, c.Recovered, r.Requests, snap)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	last := runs[len(runs)-1]
	c := last.Counts
	fmt.Fprintf(w, "last run %s: %d inserted, %d updated, %d deleted (the rows of changes whose _run is %s)\n", last.Run, c.Inserted, c.Updated, c.Deleted, last.Run)
	if len(last.Drift) > 0 {
		fmt.Fprintf(w, "drift: %s\n", strings.Join(last.Drift, "; "))
	}
	return nil
}
