package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/udesk-etl/udesk-etl/udesk"
)

// connOptions are the connection flags every command that talks to Udesk has.
type connOptions struct {
	url         string
	secretFile  string
	rate        string
	concurrency int
	timeout     time.Duration
	caFile      string
	debug       bool
	quiet       bool
}

func (o *connOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.url, "url", "", "the tenant's base `URL`, e.g. https://demo.udesk.cn (env UDESK_URL)")
	fs.StringVar(&o.secretFile, "secret-file", "", "read the API secret from `FILE` (default: env UDESK_SECRET)")
	fs.StringVar(&o.rate, "rate", "", "request budget shared by the whole run: `RATE` 60/min, 5/s or unlimited (env UDESK_RATE; default 60/min)")
	fs.IntVar(&o.concurrency, "concurrency", 4, "`N` requests in flight at most")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up on one request after `DURATION`")
	fs.StringVar(&o.caFile, "ca-file", "", "trust the PEM certificates in `FILE` for HTTPS (e.g. a self-signed test server)")
	fs.BoolVar(&o.debug, "debug", false, "log every request and reply status to stderr (signatures redacted)")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress, only errors and the summary")
	inGroup(fs, groupConnection, "url", "secret-file", "rate", "concurrency", "timeout", "ca-file", "debug")
	inGroup(fs, groupOutput, "quiet")
}

// client builds the API client from flags and environment. Missing or bad
// configuration is a usage error that says what to set.
func (o *connOptions) client(a *app) (*udesk.Client, error) {
	url := o.baseURL(a)
	if url == "" {
		return nil, usagef("no Udesk URL: set UDESK_URL or pass --url (e.g. --url https://demo.udesk.cn)")
	}
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, usagef("the Udesk URL %q must start with http:// or https://", url)
	}
	secret, err := o.secret(a)
	if err != nil {
		return nil, err
	}
	r, _, err := o.budget(a)
	if err != nil {
		return nil, err
	}
	if o.concurrency < 1 {
		return nil, usagef("--concurrency must be at least 1, not %d", o.concurrency)
	}
	if o.timeout <= 0 {
		return nil, usagef("--timeout must be positive, not %v", o.timeout)
	}
	cfg := udesk.Config{
		BaseURL:     strings.TrimRight(url, "/"),
		Signer:      udesk.NewMD5Signer(secret),
		Rate:        r,
		Concurrency: o.concurrency,
		Timeout:     o.timeout,
		UserAgent:   "udesk-etl/" + version,
	}
	if o.caFile != "" {
		hc, err := httpClientWithCA(o.caFile, o.concurrency)
		if err != nil {
			return nil, err
		}
		cfg.HTTPClient = hc
	}
	if o.debug {
		cfg.Debug = func(format string, args ...any) {
			fmt.Fprintf(a.stderr, "debug: "+format+"\n", args...)
		}
	}
	return udesk.NewClient(cfg)
}

// baseURL is the tenant's URL as the user gave it: --url or UDESK_URL.
func (o *connOptions) baseURL(a *app) string {
	if o.url != "" {
		return o.url
	}
	return a.getenv("UDESK_URL")
}

// budget is the request budget of the run (--rate, UDESK_RATE or the
// default 60/min) and how the user wrote it.
func (o *connOptions) budget(a *app) (udesk.Rate, string, error) {
	spec := o.rate
	if spec == "" {
		spec = a.getenv("UDESK_RATE")
	}
	if spec == "" {
		spec = "60/min"
	}
	r, err := udesk.ParseRate(spec)
	if err != nil {
		return r, spec, usageError{fmt.Errorf("--rate: %w", err)}
	}
	return r, spec, nil
}

func (o *connOptions) secret(a *app) (string, error) {
	if o.secretFile != "" {
		b, err := os.ReadFile(o.secretFile)
		if err != nil {
			return "", usagef("--secret-file: %v", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", usagef("--secret-file %s is empty", o.secretFile)
		}
		return s, nil
	}
	if s := a.getenv("UDESK_SECRET"); s != "" {
		return s, nil
	}
	return "", usagef("no API secret: set UDESK_SECRET or pass --secret-file FILE")
}

// httpClientWithCA is the client's default transport trusting the
// certificates in path. Like the client's own default, it follows no redirect:
// a redirected request would go out unsigned.
func httpClientWithCA(path string, conc int) (*http.Client, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--ca-file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usagef("--ca-file %s holds no PEM certificate", path)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = conc
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// tenantURL is the URL the client uses, for the state key and the manifest,
// with any password masked.
func (o *connOptions) tenantURL(a *app) string {
	u := strings.TrimRight(o.baseURL(a), "/")
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return u
}
