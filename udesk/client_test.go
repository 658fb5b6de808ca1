package udesk

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testSecret = "test-secret-7f3a"

// newTestClient returns a client for url with millisecond backoff.
func newTestClient(t testing.TB, url string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: url, Signer: NewMD5Signer(testSecret), Timeout: 2 * time.Second, MaxAttempts: 4}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.backoffBase, c.backoffCap = time.Millisecond, 5*time.Millisecond
	return c
}

// faultServer answers each request with the next scripted fault ("" = the
// success body), recording what arrived.
type faultServer struct {
	*httptest.Server
	mu       sync.Mutex
	script   []string
	arrivals []arrival
	okBody   string
	echo     bool // error replies echo the raw query (as a careless server might)
}

type arrival struct {
	at          time.Time
	method, uri string
}

func newFaultServer(t *testing.T, okBody string, script ...string) *faultServer {
	fs := &faultServer{script: script, okBody: okBody}
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *faultServer) count() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.arrivals)
}

func (fs *faultServer) serve(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	fs.arrivals = append(fs.arrivals, arrival{time.Now(), r.Method, r.URL.RequestURI()})
	fault := ""
	if len(fs.script) > 0 {
		fault, fs.script = fs.script[0], fs.script[1:]
	}
	fs.mu.Unlock()
	msg := "boom"
	if fs.echo {
		msg = "bad request " + r.URL.RawQuery
	}
	switch fault {
	case "":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, fs.okBody)
	case "500", "502", "503", "404":
		var code int
		fmt.Sscan(fault, &code)
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"status":%d,"message":%q}`, code, msg)
	case "502html":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(502)
		fmt.Fprintf(w, "<html><body>Bad Gateway %s</body></html>", msg)
	case "429":
		w.WriteHeader(429)
	case "429s":
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(429)
	case "429d":
		// An HTTP date 1-2 s ahead (dates have whole seconds).
		w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
		w.WriteHeader(429)
	case "429long":
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(429)
	case "2002":
		fmt.Fprintf(w, `{"status":2002,"message":"签名错,请升级版本后使用!","error":%q}`, msg)
	case "html":
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<html><body>maintenance %s</body></html>", msg)
	case "cutjson": // a complete HTTP reply whose JSON stops short
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, fs.okBody[:len(fs.okBody)/2])
	case "cut", "reset":
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		if fault == "cut" { // the connection drops mid-body
			fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
				len(fs.okBody)+100, fs.okBody[:len(fs.okBody)/2])
		} else {
			conn.(*net.TCPConn).SetLinger(0) // RST instead of FIN
		}
		conn.Close()
	case "stall":
		io.Copy(io.Discard, r.Body) // so that the client's hang-up cancels r.Context
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	default:
		panic("unknown fault " + fault)
	}
}

const okPage = `{"status":0,"message":"成功","size":1,"total":1,"total_pages":1,"contents":[{"id":42,"subject":"s"}]}`

func TestRetryIdempotentFaults(t *testing.T) {
	for _, fault := range []string{"500", "502", "502html", "503", "429", "reset", "html", "cut", "cutjson", "stall"} {
		t.Run(fault, func(t *testing.T) {
			t.Parallel()
			fs := newFaultServer(t, okPage, fault, fault)
			c := newTestClient(t, fs.URL, func(c *Config) { c.Timeout = 150 * time.Millisecond })
			p, err := c.Page(context.Background(), Listing{}, 1, 10)
			if err != nil {
				t.Fatalf("Page after two %s faults: %v", fault, err)
			}
			if len(p.Tickets) != 1 || p.Tickets[0].ID != 42 {
				t.Errorf("page = %+v", p)
			}
			st := c.Stats()
			if fs.count() != 3 || st.Requests != 3 || st.Retries != 2 {
				t.Errorf("server saw %d requests, stats %+v; want 3 requests, 2 retries", fs.count(), st)
			}
			wantThrottled := int64(0)
			if fault == "503" || fault == "429" {
				wantThrottled = 2
			}
			if st.Throttled != wantThrottled {
				t.Errorf("Throttled = %d, want %d", st.Throttled, wantThrottled)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	for _, fault := range []string{"429s", "429d"} {
		t.Run(fault, func(t *testing.T) {
			t.Parallel()
			fs := newFaultServer(t, okPage, fault)
			c := newTestClient(t, fs.URL, nil)
			if _, err := c.Page(context.Background(), Listing{}, 1, 10); err != nil {
				t.Fatal(err)
			}
			if fs.count() != 2 {
				t.Fatalf("server saw %d requests, want 2", fs.count())
			}
			gap := fs.arrivals[1].at.Sub(fs.arrivals[0].at)
			// 429d's date lies 1 to 2 s ahead; "wait at least that".
			if gap < time.Second {
				t.Errorf("retried %v after a 429 asking for >= 1s", gap)
			}
		})
	}
}

func TestRetryAfterBeyondRetryTimeGivesUp(t *testing.T) {
	fs := newFaultServer(t, okPage, "429long")
	c := newTestClient(t, fs.URL, func(c *Config) { c.MaxRetryTime = time.Minute })
	_, err := c.Page(context.Background(), Listing{}, 1, 10)
	var e *Error
	if !errors.As(err, &e) || e.HTTPStatus != 429 || e.Class != Transient || fs.count() != 1 {
		t.Errorf("err = %v after %d requests; want the 429, not waiting an hour", err, fs.count())
	}
}

func TestMaxAttempts(t *testing.T) {
	fs := newFaultServer(t, okPage, "500", "500", "500", "500", "500")
	c := newTestClient(t, fs.URL, func(c *Config) { c.MaxAttempts = 3 })
	_, err := c.Fields(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Attempts != 3 || fs.count() != 3 || !IsTransient(err) {
		t.Fatalf("err = %#v after %d requests, want 3 attempts", err, fs.count())
	}
	if got := err.Error(); got != "udesk: GET /api/v2/ticket_fields.json: status 500 boom: HTTP 500 (gave up after 3 attempts)" {
		t.Errorf("Error() = %q", got)
	}
}

func TestNonIdempotentNeverResent(t *testing.T) {
	type op struct {
		name string
		run  func(*Client) error
	}
	ops := []op{
		{"create", func(c *Client) error {
			_, err := c.CreateTicket(context.Background(), &NewTicket{Subject: "s", Content: "c"})
			return err
		}},
		{"reply", func(c *Client) error {
			return c.Reply(context.Background(), &Reply{ID: 1, ReplyContent: "r", Email: "a@b.c"})
		}},
		{"update+comment", func(c *Client) error {
			return c.UpdateTicket(context.Background(), 1, &TicketUpdate{Comment: &Comment{Function: "internal", AuthorEmail: "a@b.c", Body: "b"}})
		}},
	}
	for _, o := range ops {
		for _, fault := range []string{"500", "502html", "503", "reset", "html", "cut", "cutjson", "stall"} {
			t.Run(o.name+"/"+fault, func(t *testing.T) {
				t.Parallel()
				fs := newFaultServer(t, `{"status":0,"message":"ok","ticket_id":9}`, fault)
				c := newTestClient(t, fs.URL, func(c *Config) { c.Timeout = 150 * time.Millisecond })
				err := o.run(c)
				if !IsOutcomeUnknown(err) || IsTransient(err) {
					t.Errorf("err = %v, want outcome unknown", err)
				}
				if !strings.Contains(fmt.Sprint(err), "outcome unknown") {
					t.Errorf("message %q does not say the outcome is unknown", err)
				}
				if fs.count() != 1 || c.Stats().Requests != 1 {
					t.Errorf("server saw %d requests; a non-idempotent request was resent", fs.count())
				}
			})
		}
	}
}

func TestNonIdempotentRetriedWhenNotProcessed(t *testing.T) {
	fs := newFaultServer(t, `{"status":0,"message":"ok","ticket_id":9}`, "429")
	c := newTestClient(t, fs.URL, nil)
	id, err := c.CreateTicket(context.Background(), &NewTicket{Subject: "s", Content: "c"})
	if err != nil || id != 9 || fs.count() != 2 {
		t.Errorf("create after a 429 = %d, %v (%d requests); want 9 after 2", id, err, fs.count())
	}

	// A refused connection never reached a server: retried, and transient.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c = newTestClient(t, "http://"+addr, func(c *Config) { c.MaxAttempts = 3 })
	_, err = c.CreateTicket(context.Background(), &NewTicket{Subject: "s", Content: "c"})
	if !IsTransient(err) || c.Stats().Requests != 3 || c.Stats().Retries != 2 {
		t.Errorf("create to a closed port: %v, stats %+v; want transient after 3 attempts", err, c.Stats())
	}
}

func TestUpdateWithoutCommentIsRetried(t *testing.T) {
	fs := newFaultServer(t, `{"status":0,"message":"成功"}`, "503", "reset")
	c := newTestClient(t, fs.URL, nil)
	if err := c.UpdateTicket(context.Background(), 5, &TicketUpdate{Priority: "high"}); err != nil || fs.count() != 3 {
		t.Errorf("update = %v after %d requests; want success after 3", err, fs.count())
	}
}

func TestPermanentNotRetried(t *testing.T) {
	for _, fault := range []string{"404", "2002"} {
		fs := newFaultServer(t, okPage, fault)
		c := newTestClient(t, fs.URL, nil)
		_, err := c.Ticket(context.Background(), 3)
		var e *Error
		if !errors.As(err, &e) || e.Class != Permanent || fs.count() != 1 || e.Path != "/api/v1/tickets/3.json" || e.Method != "GET" {
			t.Errorf("%s: err = %#v after %d requests; want permanent after 1", fault, err, fs.count())
		}
	}
}

func TestContextCancelStopsWaiting(t *testing.T) {
	fs := newFaultServer(t, okPage, "stall")
	c := newTestClient(t, fs.URL, func(c *Config) { c.Timeout = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.Page(ctx, Listing{}, 1, 10)
	if !errors.Is(err, context.Canceled) || fs.count() != 1 {
		t.Errorf("err = %v after %d requests, want context.Canceled", err, fs.count())
	}
	// A cancelled context never sends.
	if _, err := c.Page(ctx, Listing{}, 1, 10); !errors.Is(err, context.Canceled) || fs.count() != 1 {
		t.Errorf("cancelled context: err = %v, %d requests", err, fs.count())
	}
}

type countingSigner struct {
	Signer
	n atomic.Int64
}

func (s *countingSigner) Sign(q string) string { s.n.Add(1); return s.Signer.Sign(q) }

func TestQuerySortedSignedPerAttempt(t *testing.T) {
	fs := newFaultServer(t, okPage, "500")
	sg := &countingSigner{Signer: NewMD5Signer(testSecret)}
	c := newTestClient(t, fs.URL, func(c *Config) { c.Signer = sg })
	sg.n.Store(0) // NewClient signs an empty query once, to know md5(secret)
	if _, err := c.Page(context.Background(), Listing{FilterID: 7, AgentID: 3}, 2, 50); err != nil {
		t.Fatal(err)
	}
	q := "agent_id=3&page=2&per_page=50"
	sum := md5.Sum([]byte(q + "&" + testSecret))
	want := "/api/v1/ticket_filters/7/tickets.json?" + q + "&sign=" + hex.EncodeToString(sum[:])
	for i, a := range fs.arrivals {
		if a.uri != want || a.method != "GET" {
			t.Errorf("attempt %d sent %s %s, want GET %s", i+1, a.method, a.uri, want)
		}
	}
	if sg.n.Load() != 2 {
		t.Errorf("signed %d times for 2 attempts", sg.n.Load())
	}
	// No parameter: sign = md5(secret).
	if _, err := c.Fields(context.Background()); err == nil {
		t.Error("Fields decoded a page reply")
	}
	sum = md5.Sum([]byte(testSecret))
	if got, want := fs.arrivals[2].uri, "/api/v2/ticket_fields.json?sign="+hex.EncodeToString(sum[:]); got != want {
		t.Errorf("sent %s, want %s", got, want)
	}
}

func TestConcurrencyCap(t *testing.T) {
	var inFlight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		inFlight.Add(-1)
		fmt.Fprint(w, okPage)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, func(c *Config) { c.Concurrency = 2 })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := c.Page(context.Background(), Listing{}, 1, 1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if peak.Load() > 2 {
		t.Errorf("%d requests in flight at once, cap is 2", peak.Load())
	}
}

func TestDebugLines(t *testing.T) {
	fs := newFaultServer(t, okPage, "503")
	var lines []string
	c := newTestClient(t, fs.URL, func(c *Config) {
		c.Debug = func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }
	})
	if _, err := c.Page(context.Background(), Listing{}, 1, 10); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 {
		t.Fatalf("debug lines = %q, want one per attempt", lines)
	}
	prefix := "udesk: GET " + fs.URL + "/api/v1/tickets.json?page=1&per_page=10&sign=REDACTED attempt "
	for i, want := range []string{"1 -> 503 (", "2 -> 200 ("} {
		if !strings.HasPrefix(lines[i], prefix+want) {
			t.Errorf("debug line %q, want prefix %q", lines[i], prefix+want)
		}
	}
}

func TestNewClientConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Signer: NewMD5Signer("s")},
		{BaseURL: "ftp://x", Signer: NewMD5Signer("s")},
		{BaseURL: "http://", Signer: NewMD5Signer("s")},
		{BaseURL: "http://x"},
	} {
		if _, err := NewClient(cfg); err == nil {
			t.Errorf("NewClient(%+v) succeeded", cfg)
		}
	}
}

// A Retry-After a day ahead fails that call at once with a typed error that
// names the wait, and holds none of the client's other calls.
func TestRetryAfterTooLongHoldsNoOtherCall(t *testing.T) {
	var throttled atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/tickets/1.json" {
			throttled.Add(1)
			w.Header().Set("Retry-After", time.Now().Add(24*time.Hour).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		fmt.Fprint(w, `{"status":0,"message":"成功","contents":{"id":2,"subject":"s"}}`)
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL, func(c *Config) { c.MaxRetryTime = 5 * time.Minute })
	ctx := context.Background()

	_, err := c.Ticket(ctx, 1)
	var tooLong *RetryAfterTooLongError
	var e *Error
	if !errors.As(err, &tooLong) || !errors.As(err, &e) || e.HTTPStatus != http.StatusTooManyRequests || throttled.Load() != 1 {
		t.Fatalf("err = %v after %d requests; want a RetryAfterTooLongError at once", err, throttled.Load())
	}
	if tooLong.Wait < 23*time.Hour || tooLong.Limit != 5*time.Minute {
		t.Errorf("RetryAfterTooLongError %+v, want Wait ~24h, Limit 5m", *tooLong)
	}
	if msg := err.Error(); !strings.Contains(msg, "the server asked to wait 2") ||
		!strings.Contains(msg, "before retrying, longer than the retry limit (5m)") {
		t.Errorf("Error() = %q, want it to name the wait and the limit", msg)
	}
	if until := time.Unix(0, c.pauseUntil.Load()); until.After(time.Now()) {
		t.Fatalf("the client holds every call until %v for a call that gave up", until)
	}
	// Other calls, concurrent ones included, go through (a held one would
	// wait a day).
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := c.Ticket(ctx, 2); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
