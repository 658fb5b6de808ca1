package listing

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk"
)

// TestCreatedSinceCountsEveryPass: the tickets created since the export
// began are counted from the heads the fetch read and, for the pages an
// earlier run held, from the spool: a run resumed in the second pass counts
// a new ticket only the first pass listed.
func TestCreatedSinceCountsEveryPass(t *testing.T) {
	since := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	f := newFakeList(950)
	f.created = func(id int64) string { // tickets 901.. are new
		at := since.Add(-time.Hour)
		if id > 900 {
			at = since.Add(time.Minute)
		}
		return at.In(time.FixedZone("CST", 8*3600)).Format(udesk.TimestampLayout)
	}
	f.before = func(f *fakeList, page, call int) {
		switch {
		case page == 3 && call == 1: // the first pass: the front goes, so it is read again
			f.ids = f.ids[30:]
		case page == 10 && call == 2: // the second pass begins: 950 goes, and page 5 fails
			f.ids = f.ids[:len(f.ids)-1]
			f.failing[5] = errors.New("connection reset")
		}
	}
	sp := newSpool(t)
	if _, err := (&Reader{Spool: sp, Pages: f, Workers: 1, Since: since}).Fetch(context.Background()); err == nil {
		t.Fatal("Fetch succeeded despite a failing page")
	}
	x := &Reader{Spool: sp, Pages: f, Workers: 1, Since: since}
	res, err := x.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Passes != 2 {
		t.Fatalf("%d passes, want the run resumed in the second: the test proves nothing", res.Passes)
	}
	if n, err := x.createdSince(res); err != nil || n != 50 {
		t.Errorf("%d created since, want 50 (950 was listed by the first pass only) (%v)", n, err)
	}
}
