package udesk

import (
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rate
	}{
		{"", Rate{1, 1}},
		{"60/min", Rate{1, 1}},
		{"5/s", Rate{5, 1}},
		{" 20 / sec ", Rate{20, 1}},
		{"7200/h", Rate{2, 1}},
		{"0.5/s", Rate{0.5, 1}},
		{"unlimited", Rate{Limit: rate.Inf}},
		{"Unlimited", Rate{Limit: rate.Inf}},
	} {
		got, err := ParseRate(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"60", "x/min", "0/s", "-1/s", "5/day", "/s", "5/"} {
		if r, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) = %+v, want an error", bad, r)
		}
	}
}

func TestRateLimiterZeroIsUnlimited(t *testing.T) {
	if l := (Rate{}).limiter(); l.Limit() != rate.Inf {
		t.Errorf("zero Rate limiter = %v, want unlimited", l.Limit())
	}
	if l := (Rate{Limit: 3}).limiter(); l.Burst() != 1 {
		t.Errorf("Rate{3, 0} burst = %d, want 1", l.Burst())
	}
}

// A budget's time for n requests: the burst goes at once, the rest at the
// rate; no time without a budget.
func TestRateDuration(t *testing.T) {
	r, err := ParseRate("60/min")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Duration(121); got != 120*time.Second {
		t.Errorf("121 requests at 60/min: %v, want 2m0s", got)
	}
	if got := r.Duration(0); got != 0 {
		t.Errorf("no request: %v", got)
	}
	u, _ := ParseRate("unlimited")
	if !u.Unlimited() || r.Unlimited() || u.Duration(1000) != 0 {
		t.Errorf("unlimited: %v %v %v", u.Unlimited(), r.Unlimited(), u.Duration(1000))
	}
}
