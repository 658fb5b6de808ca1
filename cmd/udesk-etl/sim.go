package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/time/rate"

	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// runSimCommand serves the built-in simulator until interrupted. Its first
// stdout line is the URL, the second the secret, so scripts can read both.
func runSimCommand(ctx context.Context, a *app, args []string) error {
	var (
		opts    udesktest.Options
		rateStr string
		faults  string
		certOut string
	)
	fs := newFlagSet(a, "sim", "[--addr HOST:PORT] [--tickets N] [--seed N] [--rate R] [--latency D] [--faults SPEC] [--secret S]")
	fs.StringVar(&opts.Addr, "addr", "127.0.0.1:0", "listen on `HOST:PORT` (port 0: a free one)")
	fs.IntVar(&opts.Tickets, "tickets", 1000, "tickets in the generated data set")
	fs.Int64Var(&opts.Seed, "seed", 1, "seed of the generated data set and of fault injection")
	fs.StringVar(&rateStr, "rate", "unlimited", "request budget; past it the simulator answers 429 with Retry-After (e.g. 60/min, 10/s)")
	fs.DurationVar(&opts.Latency, "latency", 0, "added to every reply")
	fs.StringVar(&faults, "faults", "", "inject faults by rate, e.g. 500=0.05,429=0.02,reset-after=0.01 (see udesk/udesktest)")
	fs.StringVar(&opts.Secret, "secret", "", "the API secret requests must be signed with (default: generated)")
	fs.BoolVar(&opts.TLS, "tls", false, "serve HTTPS with a self-signed certificate")
	fs.StringVar(&certOut, "cert-out", "", "with --tls, write the certificate (PEM) to `FILE` for --ca-file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	r, err := udesk.ParseRate(rateStr)
	if err != nil {
		return usageError{fmt.Errorf("--rate: %w", err)}
	}
	if r.Limit != 0 && r.Limit != rate.Inf {
		opts.Rate, opts.Burst = float64(r.Limit), r.Burst
	}
	if faults != "" {
		if opts.Faults, err = udesktest.ParseFaults(faults); err != nil {
			return usageError{fmt.Errorf("--faults: %w", err)}
		}
	}
	if opts.Tickets < 0 {
		return usagef("--tickets must not be negative")
	}
	start := time.Now()
	s, err := udesktest.NewServer(opts)
	if err != nil {
		return err
	}
	defer s.Close()
	if certOut != "" {
		if !opts.TLS {
			return usagef("--cert-out needs --tls")
		}
		if err := os.WriteFile(certOut, s.CertPEM(), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintln(a.stdout, s.URL())
	fmt.Fprintln(a.stdout, s.Secret())
	fmt.Fprintf(a.stderr, "simulator: %d tickets ready in %s; export UDESK_URL=%s and UDESK_SECRET to the secret above; Ctrl-C stops it\n",
		opts.Tickets, time.Since(start).Round(time.Millisecond), s.URL())
	<-ctx.Done()
	return nil
}
