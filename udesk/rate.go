package udesk

import (
	"time"

	"fmt"
	"strconv"
	"strings"

	"golang.org/x/time/rate"
)

// Rate is a request budget shared by every request of a Client. The zero
// value means unlimited.
type Rate struct {
	Limit rate.Limit // requests per second
	Burst int
}

// ParseRate reads a budget: "N/s", "N/min", "N/h" (N may be fractional) or
// "unlimited". "" means the default, 60/min, Udesk's documented budget.
//
// The burst is always 1: requests are spread evenly, so whatever window the
// server counts in (a token bucket, a fixed minute), it never sees more than
// the budget plus one request. A larger burst would gain nothing over a long
// run and would risk 429s at the start.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	switch s {
	case "":
		s = "60/min"
	case "unlimited", "inf", "none":
		return Rate{Limit: rate.Inf}, nil
	}
	num, unit, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: want N/s, N/min, N/h or unlimited", s)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n <= 0 || n > 1e9 {
		return Rate{}, fmt.Errorf("rate %q: %q is not a positive number", s, num)
	}
	var per float64
	switch strings.TrimSpace(unit) {
	case "s", "sec", "second":
		per = 1
	case "m", "min", "minute":
		per = 60
	case "h", "hour":
		per = 3600
	default:
		return Rate{}, fmt.Errorf("rate %q: unit %q is not s, min or h", s, unit)
	}
	return Rate{Limit: rate.Limit(n / per), Burst: 1}, nil
}

// limiter builds the shared limiter; a zero or infinite Limit never waits.
func (r Rate) limiter() *rate.Limiter {
	if r.Limit <= 0 || r.Limit == rate.Inf {
		return rate.NewLimiter(rate.Inf, 0)
	}
	b := r.Burst
	if b < 1 {
		b = 1
	}
	return rate.NewLimiter(r.Limit, b)
}

// Duration is about how long n requests take at this budget: the first
// Burst go at once, the rest one per 1/Limit. It is 0 without a budget
// (Unlimited reports whether there is one).
func (r Rate) Duration(n int64) time.Duration {
	if r.Unlimited() {
		return 0
	}
	secs := max(0, float64(n-int64(r.Burst))) / float64(r.Limit)
	return time.Duration(secs * float64(time.Second))
}

// Unlimited reports a run without a request budget.
func (r Rate) Unlimited() bool { return r.Limit == rate.Inf || r.Limit <= 0 }
