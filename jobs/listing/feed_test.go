package listing

import (
	"context"
	"errors"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk"
)

// TestPageFeedBoundsDecodedPages: pages the render has not taken yet are
// kept decoded up to maxDecoded; past that the render gets nil (it reads
// the spool); held pages are ready at once, without a decoded page.
func TestPageFeedBoundsDecodedPages(t *testing.T) {
	f := NewFeed()
	n := maxDecoded + 10
	f.start(n, func(page int) bool { return page == n })
	order := <-f.plan
	if order[0] != n || order[len(order)-1] != 0 || len(order) != n {
		t.Fatalf("plan %v, want %d..2 then 0", order, n)
	}
	for page := n - 1; page >= 2; page-- {
		f.spooled(page, &udesk.Page{Total: page})
	}
	f.spooled(0, &udesk.Page{Total: 0})
	decoded := 0
	for _, page := range order {
		pg, err := f.wait(context.Background(), page)
		if err != nil {
			t.Fatal(err)
		}
		if pg != nil {
			decoded++
			if pg.Total != page {
				t.Errorf("page %d handed on as page %d", page, pg.Total)
			}
		} else if page != n && decoded < maxDecoded {
			t.Errorf("page %d not handed on decoded while %d were waiting", page, decoded)
		}
	}
	if decoded != maxDecoded {
		t.Errorf("%d pages handed on decoded, want %d", decoded, maxDecoded)
	}
	f.Abandon()
	if _, err := f.wait(context.Background(), 99); !errors.Is(err, ErrAbandoned) {
		t.Errorf("wait after abandon: %v", err)
	}
}
