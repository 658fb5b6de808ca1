package udesk

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Config configures a Client. BaseURL and Signer are required.
type Config struct {
	BaseURL      string        // the tenant's base URL, e.g. https://demo.udesk.cn
	Signer       Signer        // e.g. NewMD5Signer(secret)
	Rate         Rate          // shared request budget; zero value = unlimited
	Concurrency  int           // requests in flight at most (default 4)
	Timeout      time.Duration // one attempt's timeout, reply body included (default 30s)
	MaxAttempts  int           // attempts per call at most (default 6)
	MaxRetryTime time.Duration // time one call may spend retrying (default 5m)
	HTTPClient   *http.Client  // optional (TLS config etc.)
	// Debug, when set, receives one line per attempt: method, URL with
	// sign=REDACTED, status or error, duration.
	Debug     func(format string, args ...any)
	UserAgent string
}

// Stats counts a Client's traffic.
type Stats struct {
	Requests  int64 // attempts sent
	Retries   int64 // attempts that were retries of a failed one
	Throttled int64 // replies 429 or 503
}

// Client speaks Udesk's ticket API. Every request goes through one path
// (do): the shared rate budget and concurrency cap, signing, and the turning
// of every reply into a result or a *Error; a retry layer above it decides
// from the error's class whether to try again. Safe for concurrent use.
type Client struct {
	base      string // scheme://host[/prefix], no trailing slash
	shownBase string // base with any password masked, for debug lines
	signer    Signer
	bareSign  string // the sign of a request without query: md5(secret), a credential
	hc        *http.Client
	limiter   *rate.Limiter
	sem       chan struct{}
	timeout   time.Duration
	attempts  int
	retryTime time.Duration
	debug     func(string, ...any)
	userAgent string

	// Backoff before retry n is uniform in [0, min(backoffCap, backoffBase*2^(n-1))].
	backoffBase, backoffCap time.Duration

	// pauseUntil (unix nanoseconds): a Retry-After seen by any call that
	// will wait it out holds every call of the client until then, as the
	// budget is shared.
	pauseUntil atomic.Int64

	requests, retries, throttled atomic.Int64
}

// maxBody bounds a reply body; a page of 100 tickets is far smaller.
const maxBody = 64 << 20

// NewClient checks cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("udesk: no base URL (e.g. https://demo.udesk.cn)")
	}
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("udesk: base URL %q: want http(s)://host[:port] without query", cfg.BaseURL)
	}
	if cfg.Signer == nil {
		return nil, errors.New("udesk: no signer (the API secret is missing)")
	}
	c := &Client{
		base:        u.String(),
		shownBase:   u.Redacted(),
		signer:      cfg.Signer,
		bareSign:    cfg.Signer.Sign(""),
		limiter:     cfg.Rate.limiter(),
		timeout:     cfg.Timeout,
		attempts:    cfg.MaxAttempts,
		retryTime:   cfg.MaxRetryTime,
		debug:       cfg.Debug,
		userAgent:   cfg.UserAgent,
		backoffBase: 500 * time.Millisecond,
		backoffCap:  30 * time.Second,
	}
	conc := cfg.Concurrency
	if conc <= 0 {
		conc = 4
	}
	c.sem = make(chan struct{}, conc)
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	if c.attempts <= 0 {
		c.attempts = 6
	}
	if c.retryTime <= 0 {
		c.retryTime = 5 * time.Minute
	}
	if c.userAgent == "" {
		c.userAgent = "udesk-etl"
	}
	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient
		c.hc = &hc
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = conc
		c.hc = &http.Client{Transport: tr}
	}
	// Redirects are never followed, not even with a caller's HTTPClient: the
	// API does not redirect, and following one would resend the signed query
	// (a credential) wherever the Location points, possibly another host, or
	// resend a create's body (307/308). A redirect is reported instead, as
	// a sign that the base URL is wrong.
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// Format keeps the signer (and its secret) out of every fmt verb, %#v included.
func (c *Client) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "udesk.Client(%s)", c.shownBase)
}

// Stats returns the client's counters so far.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.requests.Load(), Retries: c.retries.Load(), Throttled: c.throttled.Load()}
}

// call is one API call, possibly attempted several times.
type call struct {
	method, path string
	query        url.Values
	body         []byte   // JSON; nil for none
	signs        []string // the sign values sent, to scrub from what is shown
	// idempotent: may be resent after it reached the server.
	idempotent bool
	// decode reads a 2xx reply. It returns the envelope (nil when unreadable)
	// and any error; it is called afresh for every attempt's reply.
	decode func(body []byte) (*envelope, error)
}

type beforeSendKey struct{}

// WithBeforeSend returns a context whose calls run f before each attempt is
// sent, once the attempt holds its concurrency slot and budget token. A job
// that journals a write's intent does it there, so that a call that waited
// for its turn and was cancelled is known never to have left. When f fails
// the attempt is not sent and the call ends, not retried, with a Permanent
// *Error wrapping f's error.
func WithBeforeSend(ctx context.Context, f func() error) context.Context {
	return context.WithValue(ctx, beforeSendKey{}, f)
}

// BeforeSend runs the callback WithBeforeSend put in ctx, if any. The
// Client calls it before each attempt; another implementation of its calls
// (a test's fake) calls it where a request would leave.
func BeforeSend(ctx context.Context) error {
	if f, ok := ctx.Value(beforeSendKey{}).(func() error); ok {
		return f()
	}
	return nil
}

// do makes the call, retrying as its errors allow. The error returned is
// scrubbed of every sign value the call sent.
func (c *Client) do(ctx context.Context, cl *call) error {
	e := c.retry(ctx, cl)
	if e == nil {
		return nil
	}
	e.redact = newRedactor(append(cl.signs, c.bareSign)...)
	e.Message, e.ErrorText = e.redact.scrub(e.Message), e.redact.scrub(e.ErrorText)
	return e
}

func (c *Client) retry(ctx context.Context, cl *call) *Error {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		e, after := c.attempt(ctx, cl, attempt)
		if e == nil {
			return nil
		}
		e.Method, e.Path, e.Attempts = cl.method, cl.path, attempt
		if e.Class != Transient || ctx.Err() != nil {
			return e
		}
		left := max(c.retryTime-time.Since(start), 0)
		if after > left {
			// Give up, and hold no other call: they could not outwait it
			// either, and would stall the whole run for as long.
			e.Err = &RetryAfterTooLongError{Wait: after, Limit: c.retryTime, Left: left}
			return e
		}
		if attempt >= c.attempts {
			return e
		}
		c.pause(after)
		wait := max(c.backoff(attempt), after)
		if wait > left {
			return e
		}
		if err := sleep(ctx, wait); err != nil {
			e.Err = fmt.Errorf("%w while waiting to retry after: %v", err, e.Err)
			return e
		}
		c.retries.Add(1)
	}
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.backoffBase << min(attempt-1, 30)
	if d > c.backoffCap || d <= 0 {
		d = c.backoffCap
	}
	return rand.N(d + 1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attempt sends cl once. It returns nil on success, or the attempt's error
// and the Retry-After the server asked for (which it does not act on).
func (c *Client) attempt(ctx context.Context, cl *call, n int) (*Error, time.Duration) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return &Error{Class: Transient, Err: ctx.Err()}, 0
	}
	defer func() { <-c.sem }()
	if err := sleep(ctx, time.Until(time.Unix(0, c.pauseUntil.Load()))); err != nil {
		return &Error{Class: Transient, Err: err}, 0
	}
	if err := c.limiter.Wait(ctx); err != nil {
		return &Error{Class: Transient, Err: err}, 0
	}
	// A Retry-After another call saw while this one waited for the budget
	// holds it too: the server would refuse it.
	if err := sleep(ctx, time.Until(time.Unix(0, c.pauseUntil.Load()))); err != nil {
		return &Error{Class: Transient, Err: err}, 0
	}
	if err := BeforeSend(ctx); err != nil {
		return &Error{Class: Permanent, Err: err}, 0
	}

	// Parameters sorted by key (Encode sorts); the string sent is the string
	// signed, and every attempt is signed afresh.
	q := cl.query.Encode()
	sep := ""
	if q != "" {
		sep = "&"
	}
	sign := c.signer.Sign(q)
	if !slices.Contains(cl.signs, sign) {
		cl.signs = append(cl.signs, sign)
	}
	target := c.base + cl.path + "?" + q + sep + "sign=" + sign
	shown := c.shownBase + cl.path + "?" + q + sep + "sign=REDACTED"

	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// A request that never got a connection provably did not reach the server.
	var gotConn atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	})
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, target, body)
	if err != nil {
		return &Error{Class: Permanent, Err: stripURL(err)}, 0
	}
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	c.requests.Add(1)
	t0 := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		e := c.transportError(ctx, cl, err, gotConn.Load())
		c.logf(cl.method, shown, sign, n, "error: "+e.Err.Error(), t0)
		return e, 0
	}
	data, err := readBody(resp)
	resp.Body.Close()
	if err == nil && len(data) > maxBody {
		err = fmt.Errorf("reply body larger than %d bytes", maxBody)
	}
	if err != nil {
		e := c.transportError(ctx, cl, fmt.Errorf("reading reply body: %w", err), true)
		e.HTTPStatus = resp.StatusCode
		c.logf(cl.method, shown, sign, n, fmt.Sprintf("%d, reading body: %v", resp.StatusCode, e.Err), t0)
		return e, 0
	}
	c.logf(cl.method, shown, sign, n, strconv.Itoa(resp.StatusCode), t0)
	return c.classify(cl, resp, data)
}

func (c *Client) logf(method, shown, sign string, n int, outcome string, t0 time.Time) {
	if c.debug == nil {
		return
	}
	c.debug("%s", newRedactor(sign, c.bareSign).scrub(fmt.Sprintf("udesk: %s %s attempt %d -> %s (%s)",
		method, shown, n, outcome, time.Since(t0).Round(time.Microsecond))))
}

// transportError classifies a failure with no complete reply. sent says
// whether the request may have reached the server.
func (c *Client) transportError(ctx context.Context, cl *call, err error, sent bool) *Error {
	err = stripURL(err)
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		sent = false
	}
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no complete reply within %s: %w", c.timeout, err)
	}
	if untrustedCertificate(err) {
		// Trying again cannot make a certificate trusted.
		return &Error{Class: Permanent, Err: fmt.Errorf("the server's TLS certificate is not trusted: %w", err)}
	}
	e := &Error{Class: Transient, Err: err}
	if sent && !cl.idempotent {
		e.Class = OutcomeUnknown
	}
	return e
}

// untrustedCertificate reports whether err is a failed verification of the
// server's certificate chain or name.
func untrustedCertificate(err error) bool {
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var ierr x509.CertificateInvalidError
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &ierr)
}

// stripURL drops the *url.Error wrapper, whose text holds the signed URL.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// classify turns a complete reply into nil (success) or a *Error.
func (c *Client) classify(cl *call, resp *http.Response, data []byte) (*Error, time.Duration) {
	status := resp.StatusCode
	withEnvelope := func(e *Error) *Error {
		e.HTTPStatus = status
		if env := envelopeOf(data); env != nil {
			e.Code, e.Message, e.ErrorText = int(env.Status), string(env.Message), string(env.ErrorText)
		}
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
		return e
	}
	switch {
	case status == http.StatusTooManyRequests:
		// The budget refused the request before processing it: safe to resend
		// even when it is not idempotent.
		c.throttled.Add(1)
		return withEnvelope(&Error{Class: Transient}), parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case status >= 500:
		if status == http.StatusServiceUnavailable {
			c.throttled.Add(1)
		}
		e := withEnvelope(&Error{Class: Transient})
		if !cl.idempotent {
			e.Class = OutcomeUnknown
		}
		return e, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case status >= 300 && status < 400:
		e := withEnvelope(&Error{Class: Permanent})
		if loc := resp.Header.Get("Location"); loc != "" {
			e.Message = fmt.Sprintf("redirected to %s (is the base URL right?)", shownURL(loc))
		}
		return e, 0
	case status >= 400 || status < 200:
		return withEnvelope(&Error{Class: Permanent}), 0
	}

	var env *envelope
	var err error
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		env, err = cl.decode(data)
	} else {
		err = errors.New("reply is not a JSON object")
	}
	if err == nil && env != nil && env.Status == StatusOK {
		return nil, 0
	}
	if err == nil && env != nil {
		return apiError(env, status), 0
	}
	if env = envelopeOf(data); env != nil && env.Status != StatusOK {
		return apiError(env, status), 0
	}
	e := &Error{HTTPStatus: status, Class: Permanent}
	if !json.Valid(data) {
		// An HTML error page, a body cut short: the server or a proxy failed.
		e.Class = Transient
		e.Err = fmt.Errorf("reply is not valid JSON (%d bytes, Content-Type %q)", len(data), resp.Header.Get("Content-Type"))
	} else {
		if err == nil {
			err = errors.New("no reply object")
		}
		e.Err = fmt.Errorf("reply did not decode: %w", err)
	}
	if !cl.idempotent {
		e.Class = OutcomeUnknown
	}
	return e, 0
}

// pause holds every call of the client for d (a Retry-After the caller will
// wait out), unless a longer pause is already on.
func (c *Client) pause(d time.Duration) {
	if d <= 0 {
		return
	}
	until := time.Now().Add(d).UnixNano()
	for {
		cur := c.pauseUntil.Load()
		if cur >= until || c.pauseUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// readBody reads a reply body, up to maxBody+1 bytes: into one buffer of the
// announced length when the length is known (a page of 100 tickets is about
// 100 KB, which io.ReadAll would reach by a dozen copies). The transport
// ends a body at its Content-Length and reports one cut short.
func readBody(resp *http.Response) ([]byte, error) {
	n := resp.ContentLength
	if n <= 0 || n > maxBody {
		return io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
