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
stdout is its URL, the second the secret requests must be signed with.

` + simAdminHelp,
		Example: `  udesk-etl sim --tickets 2000 > sim.out &
  export UDESK_URL=$(sed -n 1p sim.out) UDESK_SECRET=$(sed -n 2p sim.out)
  sign=$(printf %s "$UDESK_SECRET" | md5sum | cut -d' ' -f1)
  curl -s -X POST "$UDESK_URL/_sim/mutate?sign=$sign" -d '{"seed":1,"update":25,"delete":4,"create":6}'
  curl -s -X PATCH "$UDESK_URL/_sim/tickets/7?sign=$sign" -d '{"status":"closed"}'
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

// simAdminHelp is the simulator's admin API as sim --help shows it (the
// full reference is udesk/udesktest's package documentation).
const simAdminHelp = `Changing the tenant while it runs (to try sync, or an import against changed tickets): the
admin requests below, signed like the API (sign=md5(secret) when sign is the only query
parameter), with JSON bodies; tickets in the API's read form (status in English, priority in
Chinese, select values as option indexes). They skip the budget, latency and faults.
  POST   /_sim/mutate         {"seed":1,"update":25,"delete":4,"create":6}: random changes; replies
                              with the ids updated, deleted and created
  POST   /_sim/tickets        create a ticket: {"subject":"...","status":"open"} ({} is fine); replies ticket_id
  PATCH  /_sim/tickets/ID     change a ticket: the members to change, e.g. {"status":"closed"}
  DELETE /_sim/tickets/ID     delete a ticket
  POST   /_sim/fields         add a field: {"field_label":"...","content_type":"droplist","options":["a","b"]}
  PATCH  /_sim/fields/NAME    relabel a field, {"field_label":"..."}, or its options, {"options":{"0":"..."}}
  DELETE /_sim/fields/NAME    remove a field
A change moves the ticket's updated_at to now. Filter 6 lists the recently updated tickets, every
ticket changed or created since the simulator started among them: the kind of view that
'udesk-etl sync --changed-filter 6' reads.`

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
