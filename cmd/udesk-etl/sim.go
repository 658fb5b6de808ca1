package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/udesk-etl/udesk-etl/udesk"
	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// newSimCommand serves the built-in simulator until interrupted. Its first
// stdout line is the URL, the second the secret, so scripts can read both.
// Its admin API (/_sim/..., signed like the API) changes the data while it
// runs: see udesk/udesktest.
func newSimCommand(a *app) *cobra.Command {
	var o simOptions
	c := &cobra.Command{
		Use:   "sim [--addr HOST:PORT] [--tickets N] [--seed N] [--rate R] [--latency D] [--faults SPEC] [--secret S]",
		Short: "serve the built-in Udesk simulator",
		Long: `Serve a built-in Udesk simulator with generated tickets until interrupted. Its first line on
stdout is its URL, the second the secret requests must be signed with.`,
		Example: `  udesk-etl sim --tickets 2000 > sim.out &
  export UDESK_URL=$(sed -n 1p sim.out) UDESK_SECRET=$(sed -n 2p sim.out)
  udesk-etl sim --faults 500=0.05,429=0.02 --rate 10/s`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return o.run(c.Context(), a) },
	}
	fs := c.Flags()
	opts := &o.opts
	fs.StringVar(&opts.Addr, "addr", "127.0.0.1:0", "listen on `HOST:PORT` (port 0: a free one)")
	fs.IntVar(&opts.Tickets, "tickets", 1000, "`N` tickets in the generated data set")
	fs.Int64Var(&opts.Seed, "seed", 1, "`N` seeds the generated data set and fault injection")
	fs.StringVar(&opts.Order, "order", udesktest.OrderOldest, "list `ORDER`: oldest (ascending id, new tickets last) or newest (descending id, new tickets first)")
	fs.StringVar(&o.churn, "churn", "", "tickets change while a client pages: `EVERY:CREATE:DELETE`, before every EVERY-th page request create CREATE tickets and delete DELETE random ones (e.g. 5:1:1)")
	fs.StringVar(&o.rate, "rate", "unlimited", "request budget `R`; past it the simulator answers 429 with Retry-After (e.g. 60/min, 10/s)")
	fs.DurationVar(&opts.Latency, "latency", 0, "`DURATION` added to every reply")
	fs.StringVar(&o.faults, "faults", "", "inject faults by rate, `SPEC` e.g. 500=0.05,429=0.02,reset-after=0.01,redirect@list=0.01,429-long=0.01 (see udesk/udesktest)")
	fs.StringVar(&opts.Secret, "secret", "", "the API secret `S` requests must be signed with (default: generated)")
	fs.BoolVar(&opts.TLS, "tls", false, "serve HTTPS with a self-signed certificate")
	fs.StringVar(&o.certOut, "cert-out", "", "with --tls, write the certificate (PEM) to `FILE` for --ca-file")
	inGroup(fs, groupSelection, "tickets", "seed", "order", "churn")
	inGroup(fs, groupBehaviour, "rate", "latency", "faults")
	inGroup(fs, groupConnection, "addr", "secret", "tls", "cert-out")
	return c
}

// simOptions are the flags of `udesk-etl sim`.
type simOptions struct {
	opts                         udesktest.Options
	rate, faults, certOut, churn string
}

func (o *simOptions) run(ctx context.Context, a *app) error {
	opts, rateStr, faults, certOut, churn := o.opts, o.rate, o.faults, o.certOut, o.churn
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
	if opts.Order != udesktest.OrderOldest && opts.Order != udesktest.OrderNewest {
		return usagef("--order must be oldest or newest, not %q", opts.Order)
	}
	if churn != "" {
		c := &opts.Churn
		if n, err := fmt.Sscanf(churn, "%d:%d:%d", &c.Every, &c.Create, &c.Delete); err != nil || n != 3 || c.Every < 1 || c.Create < 0 || c.Delete < 0 {
			return usagef("--churn wants EVERY:CREATE:DELETE with EVERY >= 1 (e.g. 5:1:1), not %q", churn)
		}
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
