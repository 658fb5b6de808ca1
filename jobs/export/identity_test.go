package export

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udesk-etl/udesk-etl/pipeline"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// The same export is one job whatever the spelling of the tenant's URL or of
// the output's folder, and a second run of it while the first holds its
// state stops at once with a *pipeline.LockedError naming the folder.
func TestRunSameJobAnySpellingOneAtATime(t *testing.T) {
	sim, c := newSim(t, udesktest.Options{Tickets: 5, Seed: 1})
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Skip(err)
	}
	first, err := Run(context.Background(), c, Options{Tenant: sim.URL(), Outputs: []string{filepath.Join(dir, "t.csv")}})
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Dir(first.State)
	for _, o := range []Options{
		{Tenant: sim.URL() + "/", Outputs: []string{filepath.Join(dir, "t.csv")}},
		{Tenant: strings.ToUpper(sim.URL()[:4]) + sim.URL()[4:], Outputs: []string{filepath.Join(link, "t.csv")}},
	} {
		rep, err := Run(context.Background(), c, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := filepath.Dir(rep.State); got != state {
			t.Errorf("%s to %s: state in %s, want the same job's %s", o.Tenant, o.Outputs[0], got, state)
		}
	}

	unlock, err := pipeline.LockStateDir(state)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	before := sim.Requests()[udesktest.EndpointList]
	_, err = Run(context.Background(), c, Options{Tenant: sim.URL() + "/", Outputs: []string{filepath.Join(link, "t.csv")}, Fresh: true})
	var le *pipeline.LockedError
	if !errors.As(err, &le) || le.Dir != state {
		t.Fatalf("a run while another holds the state: %v, want a *pipeline.LockedError naming %s", err, state)
	}
	if n := sim.Requests()[udesktest.EndpointList] - before; n != 0 {
		t.Errorf("the locked-out run made %d list requests", n)
	}
}
