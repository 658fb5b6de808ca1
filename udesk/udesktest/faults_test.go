package udesktest

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	f, err := ParseFaults("500=0.05, 429=2%,reset-after@create=0.01,seed=7")
	if err != nil {
		t.Fatal(err)
	}
	want := Faults{Seed: 7, Rules: []FaultRule{
		{Kind: "500", Rate: 0.05}, {Kind: "429", Rate: 0.02}, {Kind: "reset-after", Endpoint: EndpointCreate, Rate: 0.01},
	}}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got %+v, want %+v", f, want)
	}
	if f, err := ParseFaults(""); err != nil || len(f.Rules) != 0 {
		t.Errorf("empty spec: %+v %v", f, err)
	}
	for spec, wantErr := range map[string]string{
		"404=0.1":               `unknown kind "404"`,
		"500=1.5":               "not a probability",
		"500=x":                 "not a probability",
		"500":                   "want kind=rate",
		"500=0.6,502=0.5":       "add up to 1.1",
		"cut@nowhere=0.1":       `unknown endpoint "nowhere"`,
		"seed=abc":              "want an integer",
		"stall@list=0.7,cut=.4": "", // different endpoints: each within 1
	} {
		_, err := ParseFaults(spec)
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("ParseFaults(%q) = %v, want error containing %q", spec, err, wantErr)
		}
	}
}

// createBody is a minimal valid create.
const createBody = `{"ticket":{"subject":"s","content":"c","email":"test@sample.com"}}`

func signedURL(s *Server, path string, q url.Values) string {
	return s.URL() + path + "?" + signQuery(s.Secret(), q)
}

func postCreate(s *Server, c *http.Client) (*http.Response, error) {
	return c.Post(signedURL(s, "/api/v1/tickets.json", nil), "application/json", strings.NewReader(createBody))
}

func TestEarlyFaults(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 2})
	cases := []struct {
		kind       string
		http       int
		retryAfter string
		bodyHas    string
	}{
		{Fault500, 500, "", "Internal Server Error"},
		{Fault502, 502, "", "<center><h1>502 Bad Gateway"},
		{Fault503, 503, "", "503 Service Unavailable"},
		{Fault429, 429, "1", `"status":429`},
		{Fault429Bare, 429, "", `"status":429`},
		{FaultHTML, 200, "", "<!DOCTYPE html>"},
		{FaultHTML502, 502, "", "<html>"},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			s.FailNext("create", c.kind, 1)
			resp, err := postCreate(s, s.Client())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.http || resp.Header.Get("Retry-After") != c.retryAfter || !strings.Contains(string(body), c.bodyHas) {
				t.Errorf("HTTP %d Retry-After %q body %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			if n := len(s.Tickets()); n != 2 {
				t.Errorf("%s processed the create: %d tickets", c.kind, n)
			}
		})
	}
	// The fault was spent: the next create goes through.
	resp, err := postCreate(s, s.Client())
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after faults: %v", err)
	}
	resp.Body.Close()
	log := s.Log()
	if len(log) != len(cases)+1 || log[0].Fault != Fault500 || log[0].Status != 500 || log[len(log)-1].Fault != "" || log[len(log)-1].APIStatus != 0 {
		t.Errorf("log %+v", log)
	}
}

func TestConnectionFaults(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 1, SlowBody: 30 * time.Millisecond})
	count := func() int { return len(s.Tickets()) }

	s.FailNext(EndpointCreate, FaultResetBefore, 1)
	if _, err := postCreate(s, s.Client()); err == nil {
		t.Error("reset-before: no error")
	}
	if count() != 1 {
		t.Error("reset-before processed the create")
	}

	s.FailNext(EndpointCreate, FaultResetAfter, 1)
	if _, err := postCreate(s, s.Client()); err == nil {
		t.Error("reset-after: no error")
	}
	if count() != 2 {
		t.Error("reset-after did not process the create")
	}

	s.FailNext(EndpointCreate, FaultCut, 1)
	resp, err := postCreate(s, s.Client())
	if err != nil {
		t.Fatalf("cut: headers should arrive: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(body) == 0 || !strings.HasPrefix(string(body), `{"status":0`) {
		t.Errorf("cut: read %q, %v; want half a JSON body and unexpected EOF", body, err)
	}
	if count() != 3 {
		t.Error("cut did not process the create")
	}

	s.FailNext(EndpointCreate, FaultSlow, 1)
	resp, err = postCreate(s, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.Contains(string(body), `"ticket_id":4`) {
		t.Errorf("slow: %q %v", body, err)
	}

	s.FailNext("", FaultStall, 1) // any endpoint
	c := s.Client()
	c.Timeout = 100 * time.Millisecond
	if _, err := postCreate(s, c); err == nil {
		t.Error("stall: the client did not time out")
	}
	if count() != 4 {
		t.Error("stall processed the create")
	}
}

func TestRandomFaultsAreSeeded(t *testing.T) {
	statuses := func() []int {
		s := newTestServer(t, Options{Tickets: 1, Faults: Faults{Seed: 3, Rules: []FaultRule{{Kind: Fault503, Rate: 0.5}}}})
		var out []int
		for range 30 {
			resp, err := s.Client().Get(signedURL(s, "/api/v1/tickets.json", nil))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			out = append(out, resp.StatusCode)
		}
		return out
	}
	a, b := statuses(), statuses()
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
	seen := map[int]bool{}
	for _, st := range a {
		seen[st] = true
	}
	if !seen[200] || !seen[503] || len(seen) != 2 {
		t.Errorf("statuses %v: want a mix of 200 and 503", a)
	}
	// Rules scoped to an endpoint leave the others alone.
	s := newTestServer(t, Options{Tickets: 1})
	f, _ := ParseFaults("500@create=1")
	s.SetFaults(f)
	resp, err := s.Client().Get(signedURL(s, "/api/v1/tickets.json", nil))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("list with create-only faults: %v", err)
	}
	resp.Body.Close()
	if resp, _ := postCreate(s, s.Client()); resp.StatusCode != 500 {
		t.Errorf("create with 500@create=1: HTTP %d", resp.StatusCode)
	}
}

func TestBudget(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 1, Rate: 0.01, Burst: 2})
	for i := range 2 {
		resp, err := s.Client().Get(signedURL(s, "/api/v1/tickets.json", nil))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
		resp.Body.Close()
	}
	resp, err := postCreate(s, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || ra < 90 || ra > 100 {
		t.Errorf("over budget: HTTP %d Retry-After %q; want 429 and about 100s", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if len(s.Tickets()) != 1 {
		t.Error("the create over budget was processed")
	}
	if got := s.Requests(); got[EndpointList] != 2 || got[EndpointCreate] != 1 {
		t.Errorf("Requests %v", got)
	}
}

func TestLatency(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 1, Latency: 40 * time.Millisecond})
	start := time.Now()
	wantOK(t, call(t, s, "GET", "/api/v1/tickets/1", nil, nil))
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("request took %v, want at least the 40ms latency", d)
	}
}

func TestChurn(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 100, Seed: 4, Churn: Churn{Every: 2, Create: 5, Delete: 2}})
	totals := []int{}
	for pg := 1; pg <= 4; pg++ {
		p := decodePage(t, call(t, s, "GET", "/api/v1/tickets", pageQuery(fmt.Sprint(pg), "10"), nil).Raw)
		totals = append(totals, p.Total)
	}
	if !reflect.DeepEqual(totals, []int{100, 103, 103, 106}) {
		t.Errorf("totals %v, want [100 103 103 106]", totals)
	}
	all := s.Tickets()
	if all[len(all)-1].ID != 110 {
		t.Errorf("last id %d, want 110", all[len(all)-1].ID)
	}
	missing := 0
	for id := int64(1); id <= 110; id++ {
		if _, ok := s.Ticket(id); !ok {
			missing++
			wantError(t, call(t, s, "GET", "/api/v1/tickets/"+fmt.Sprint(id), nil, nil), 1003, "未找到相应工单")
		}
	}
	if missing != 4 {
		t.Errorf("%d of the 110 tickets ever made are gone, want 4", missing)
	}
	if s.DeleteTicket(999) || !s.DeleteTicket(110) {
		t.Error("DeleteTicket")
	}
	if s.UpdateTicket(110, func(*Ticket) {}) {
		t.Error("UpdateTicket of a deleted ticket reported success")
	}
}

func TestTLS(t *testing.T) {
	s := newTestServer(t, Options{Tickets: 1, TLS: true})
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s", s.URL())
	}
	block, _ := pem.Decode(s.CertPEM())
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || cert.VerifyHostname("127.0.0.1") != nil {
		t.Fatalf("certificate: %v", err)
	}
	wantOK(t, call(t, s, "GET", "/api/v1/tickets/1.json", nil, nil))
	if _, err := http.Get(signedURL(s, "/api/v1/tickets.json", nil)); err == nil {
		t.Error("a client without the certificate connected")
	}
	// Connection faults work over TLS too.
	s.FailNext("list", FaultResetBefore, 1)
	if _, err := s.Client().Get(signedURL(s, "/api/v1/tickets.json", nil)); err == nil {
		t.Error("reset-before over TLS: no error")
	}
}

func BenchmarkPage100(b *testing.B) {
	s := newTestServer(b, Options{Tickets: 1_000_000, Seed: 1})
	c := s.Client()
	urls := make([]string, 100)
	for i := range urls {
		urls[i] = signedURL(s, "/api/v1/tickets.json", pageQuery(strconv.Itoa(1+i*97), "100"))
	}
	b.ResetTimer()
	var n int64
	for i := 0; b.Loop(); i++ {
		resp, err := c.Get(urls[i%len(urls)])
		if err != nil {
			b.Fatal(err)
		}
		m, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		n += m
	}
	b.SetBytes(n / int64(b.N))
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "tickets/s")
}

func BenchmarkEncodePage100(b *testing.B) {
	s := newTestServer(b, Options{Tickets: 1_000_000, Seed: 1})
	for i := 0; b.Loop(); i++ {
		s.mu.RLock()
		s.encodePage(s.order, 1+i%10000, 100)
		s.mu.RUnlock()
	}
}

// BenchmarkListPage100 serves every page of 100 of a 200k-ticket data set in
// turn, as repeated exports read them, after a first pass has filled the
// encode cache.
func BenchmarkListPage100(b *testing.B) {
	const tickets = 200_000
	s := newTestServer(b, Options{Tickets: tickets, Seed: 1})
	s.mu.RLock()
	defer s.mu.RUnlock()
	for pg := 1; pg <= tickets/100; pg++ {
		s.encodePage(s.order, pg, 100)
	}
	for i := 0; b.Loop(); i++ {
		s.encodePage(s.order, 1+i%(tickets/100), 100)
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "tickets/s")
	b.ReportMetric(float64(s.enc.bytes.Load())/tickets, "cache-bytes/ticket")
}
