package udesk

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// signRecorder signs with testSecret and remembers every sign value.
type signRecorder struct {
	mu    sync.Mutex
	signs []string
}

func (r *signRecorder) signer() Signer {
	return &recordingSigner{inner: NewMD5Signer(testSecret), record: func(s string) {
		r.mu.Lock()
		r.signs = append(r.signs, s)
		r.mu.Unlock()
	}}
}

// assertNothingSecret fails if any text holds the secret, md5(secret) or a
// recorded sign value, raw, percent-encoded once or twice, in either case.
func assertNothingSecret(t *testing.T, texts []string, signs []string) {
	t.Helper()
	sum := md5.Sum([]byte(testSecret))
	for _, v := range append([]string{testSecret, hex.EncodeToString(sum[:])}, signs...) {
		once := url.QueryEscape(v)
		for _, enc := range []string{v, once, url.QueryEscape(once)} {
			for _, text := range texts {
				if strings.Contains(strings.ToLower(text), strings.ToLower(enc)) {
					t.Errorf("%q shown: %s", enc, text)
				}
			}
		}
	}
}

// shownForms is err as every fmt verb prints it.
func shownForms(err error) []string {
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out = append(out, fmt.Sprintf(verb, err))
	}
	return out
}

// A redirect whose Location echoes the signed request, once or twice
// percent-encoded or in its path, is neither followed (so the sign never
// reaches the other host) nor shown with the sign.
func TestRedirectNeverShowsNorResendsSign(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		fmt.Fprint(w, okPage)
	}))
	t.Cleanup(other.Close)
	var kind atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		back := other.URL + "/login?return_to=" + url.QueryEscape(r.URL.RequestURI())
		switch kind.Add(1) % 3 {
		case 0:
			w.Header().Set("Location", back)
		case 1:
			w.Header().Set("Location", other.URL+"/sso?next="+url.QueryEscape(back))
		case 2:
			w.Header().Set("Location", other.URL+"/r/"+url.PathEscape(r.URL.RequestURI())+"#"+r.URL.RawQuery)
		}
		w.WriteHeader(http.StatusFound)
	}))
	t.Cleanup(srv.Close)

	var rec signRecorder
	var mu sync.Mutex
	var shown []string
	debug := func(f string, a ...any) {
		mu.Lock()
		shown = append(shown, fmt.Sprintf(f, a...))
		mu.Unlock()
	}
	ctx := context.Background()
	for _, hc := range []*http.Client{nil, {}} { // {}: a caller's client, which would follow redirects
		c := newTestClient(t, srv.URL, func(c *Config) { c.Signer, c.Debug, c.HTTPClient = rec.signer(), debug, hc })
		for range 3 {
			for _, call := range []func() error{
				func() error { _, err := c.Ticket(ctx, 1); return err }, // no query: sign = md5(secret)
				func() error { _, err := c.Page(ctx, Listing{}, 1, 10); return err },
				func() error { _, err := c.CreateTicket(ctx, &NewTicket{Subject: "s", Content: "c"}); return err },
			} {
				err := call()
				if e, ok := err.(*Error); !ok || e.HTTPStatus != http.StatusFound || e.Class != Permanent ||
					!strings.Contains(e.Error(), "redirected to "+other.URL+"/") {
					t.Fatalf("err = %v, want the redirect reported", err)
				}
				shown = append(shown, shownForms(err)...)
			}
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times: the sign went to another host", n)
	}
	assertNothingSecret(t, shown, rec.signs)
}

// A server that echoes the request (raw, percent-encoded once and twice) into
// its error replies, JSON or not, never gets a sign into an error or a debug
// line; the rest of the echo is kept.
func TestEchoedRequestNeverShown(t *testing.T) {
	var kind atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uri := r.URL.RequestURI()
		once := url.QueryEscape(uri)
		switch kind.Add(1) % 4 {
		case 0:
			fmt.Fprintf(w, `{"status":1001,"message":"bad request %s","error":"return_to=%s"}`, uri, once)
		case 1:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"status":400,"message":"next=%s","error":"sign: %s"}`, url.QueryEscape(once), strings.ToUpper(r.URL.Query().Get("sign")))
		case 2:
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "<html>%s %s</html>", uri, once)
		case 3:
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "%s\nsign=%s", once, r.URL.Query().Get("sign"))
		}
	}))
	t.Cleanup(srv.Close)
	var rec signRecorder
	var shown []string
	c := newTestClient(t, srv.URL, func(c *Config) {
		c.Signer, c.MaxAttempts = rec.signer(), 1
		c.Debug = func(f string, a ...any) { shown = append(shown, fmt.Sprintf(f, a...)) }
	})
	ctx := context.Background()
	echoed := 0
	for range 4 {
		for _, call := range []func() error{
			func() error { _, err := c.Ticket(ctx, 1); return err },
			func() error { _, err := c.Page(ctx, Listing{FilterID: 3}, 2, 10); return err },
		} {
			err := call()
			if err == nil {
				t.Fatal("an error reply succeeded")
			}
			if s := err.Error(); strings.Contains(s, "bad request /api/v1/") || strings.Contains(s, "%2Fapi%2Fv1%2F") {
				echoed++
			}
			shown = append(shown, shownForms(err)...)
		}
	}
	if echoed == 0 {
		t.Fatal("no echo reached an error: the test shows nothing")
	}
	assertNothingSecret(t, shown, rec.signs)
}
