package pipeline

import (
	"testing"
	"time"
)

func TestApprox(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "under a second",
		300 * time.Millisecond:  "under a second",
		61 * time.Second:        "1m1s",
		1500 * time.Millisecond: "2s",
	} {
		if got := Approx(d); got != want {
			t.Errorf("Approx(%v) = %q, want %q", d, got, want)
		}
	}
}
