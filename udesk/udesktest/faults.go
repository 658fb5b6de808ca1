package udesktest

import (
	"fmt"
	"html"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Endpoint keys, as Requests counts them and FailNext and fault rules name
// them. Paths are counted with or without ".json" under the same key.
const (
	EndpointList            = "GET /api/v1/tickets"
	EndpointCustomerTickets = "POST /api/v1/tickets/get"
	EndpointTicket          = "GET /api/v1/tickets/:id"
	EndpointCreate          = "POST /api/v1/tickets"
	EndpointUpdate          = "PUT /api/v1/tickets/:id"
	EndpointReply           = "POST /api/v1/tickets/reply"
	EndpointFields          = "GET /api/v2/ticket_fields"
	EndpointFilters         = "GET /api/v1/ticket_filters"
	EndpointFilterTickets   = "GET /api/v1/ticket_filters/:id/tickets"
)

// endpointNames are the short names a fault spec may use after "@".
var endpointNames = map[string]string{
	"list":           EndpointList,
	"customer":       EndpointCustomerTickets,
	"ticket":         EndpointTicket,
	"create":         EndpointCreate,
	"update":         EndpointUpdate,
	"reply":          EndpointReply,
	"fields":         EndpointFields,
	"filters":        EndpointFilters,
	"filter-tickets": EndpointFilterTickets,
}

// Fault kinds. "Not processed" means the request has no effect on the data.
const (
	Fault500         = "500"          // HTTP 500, JSON-less text body; not processed
	Fault502         = "502"          // HTTP 502, proxy HTML page; not processed
	Fault503         = "503"          // HTTP 503, proxy HTML page; not processed
	Fault429         = "429"          // HTTP 429 with Retry-After: 1; not processed
	Fault429Bare     = "429-bare"     // HTTP 429 without Retry-After; not processed
	FaultHTML        = "html"         // HTTP 200 with an HTML error page; not processed
	FaultHTML502     = "html-502"     // HTTP 502 with an HTML error page; not processed
	FaultResetBefore = "reset-before" // connection reset before processing
	FaultResetAfter  = "reset-after"  // processed fully, then the connection is reset without a reply
	FaultSlow        = "slow"         // processed; the reply body is dribbled over Options.SlowBody
	FaultCut         = "cut"          // processed; the reply stops mid-JSON and the connection closes
	FaultStall       = "stall"        // held without a reply for Options.Stall (or until the client gives up), then reset; not processed
	// FaultRedirect answers HTTP 302 to a login page whose Location carries
	// the request URI, query and sign included, percent-encoded in
	// return_to; the HTML body repeats it. Not processed.
	FaultRedirect = "redirect"
	Fault429Long  = "429-long" // HTTP 429 with an HTTP-date Retry-After one day ahead; not processed
)

// redirectLogin is where the redirect fault sends a client.
const redirectLogin = "https://login.example.invalid/?return_to="

var faultKinds = []string{Fault500, Fault502, Fault503, Fault429, Fault429Bare, FaultHTML, FaultHTML502,
	FaultResetBefore, FaultResetAfter, FaultSlow, FaultCut, FaultStall, FaultRedirect, Fault429Long}

// Faults are injected at random, at most one per request, with a seeded RNG.
type Faults struct {
	Seed  int64
	Rules []FaultRule
}

// FaultRule injects Kind into a fraction Rate (0..1) of the requests to
// Endpoint (an Endpoint* key; "" for every endpoint).
type FaultRule struct {
	Kind     string
	Endpoint string
	Rate     float64
}

// ParseFaults reads a fault spec: comma-separated items "kind=rate" or
// "kind@endpoint=rate", plus an optional "seed=N". See the package doc.
func ParseFaults(spec string) (Faults, error) {
	var f Faults
	total := map[string]float64{}
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, ok := strings.Cut(item, "=")
		if !ok {
			return Faults{}, fmt.Errorf("fault %q: want kind=rate, e.g. 500=0.05", item)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if key == "seed" {
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return Faults{}, fmt.Errorf("fault seed %q: want an integer", val)
			}
			f.Seed = n
			continue
		}
		kind, ep, _ := strings.Cut(key, "@")
		if !validFault(kind) {
			return Faults{}, fmt.Errorf("fault %q: unknown kind %q (want one of %s)", item, kind, strings.Join(faultKinds, ", "))
		}
		if ep != "" {
			full, ok := endpointNames[ep]
			if !ok {
				return Faults{}, fmt.Errorf("fault %q: unknown endpoint %q (want one of list, customer, ticket, create, update, reply, fields, filters, filter-tickets)", item, ep)
			}
			ep = full
		}
		pct := strings.HasSuffix(val, "%")
		rate, err := strconv.ParseFloat(strings.TrimSuffix(val, "%"), 64)
		if pct {
			rate /= 100
		}
		if err != nil || rate < 0 || rate > 1 {
			return Faults{}, fmt.Errorf("fault %q: rate %q is not a probability between 0 and 1 (or 0%%..100%%)", item, val)
		}
		total[ep] += rate
		f.Rules = append(f.Rules, FaultRule{Kind: kind, Endpoint: ep, Rate: rate})
	}
	for ep, sum := range total {
		if sum > 1.0000001 {
			where := "every endpoint"
			if ep != "" {
				where = ep
			}
			return Faults{}, fmt.Errorf("fault rates for %s add up to %.3g, more than 1", where, sum)
		}
	}
	return f, nil
}

func validFault(kind string) bool {
	for _, k := range faultKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// endpointKey accepts a full Endpoint* key or a short name ("create").
func endpointKey(ep string) (string, bool) {
	if full, ok := endpointNames[ep]; ok {
		return full, true
	}
	for _, full := range endpointNames {
		if full == ep {
			return full, true
		}
	}
	return "", ep == "" || ep == "*"
}

// faultState picks the fault of each request.
type faultState struct {
	faults Faults
	rng    *rand.Rand
	forced map[string][]forcedFault // by endpoint key; "" for any endpoint
}

type forcedFault struct {
	kind string
	n    int
}

func (fs *faultState) set(f Faults) {
	fs.faults = f
	fs.rng = rand.New(rand.NewSource(f.Seed))
}

// pick returns the fault for one request to ep, or "".
func (fs *faultState) pick(ep string) string {
	for _, key := range []string{ep, ""} {
		q := fs.forced[key]
		if len(q) == 0 {
			continue
		}
		kind := q[0].kind
		if q[0].n--; q[0].n <= 0 {
			fs.forced[key] = q[1:]
		}
		return kind
	}
	if len(fs.faults.Rules) == 0 {
		return ""
	}
	u := fs.rng.Float64()
	for _, r := range fs.faults.Rules {
		if r.Endpoint != "" && r.Endpoint != ep {
			continue
		}
		if u < r.Rate {
			return r.Kind
		}
		u -= r.Rate
	}
	return ""
}

// processedBefore reports whether the fault answers before the request is
// processed (so the data is untouched).
func processedBefore(kind string) bool {
	switch kind {
	case FaultResetAfter, FaultSlow, FaultCut, "":
		return false
	}
	return true
}

const proxyPage = "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// failEarly answers a fault that replaces processing; it returns the HTTP
// status written (0 when the connection was dropped).
func (s *Server) failEarly(w http.ResponseWriter, r *http.Request, kind string) int {
	page := func(code int) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(code)
		fmt.Fprintf(w, proxyPage, code, http.StatusText(code), code, http.StatusText(code))
	}
	switch kind {
	case Fault500:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(500)
		w.Write([]byte("Internal Server Error\n"))
		return 500
	case Fault502, FaultHTML502:
		page(502)
		return 502
	case Fault503:
		page(503)
		return 503
	case Fault429, Fault429Bare, Fault429Long:
		switch kind {
		case Fault429:
			w.Header().Set("Retry-After", "1")
		case Fault429Long:
			w.Header().Set("Retry-After", time.Now().Add(24*time.Hour).UTC().Format(http.TimeFormat))
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(429)
		w.Write(newReply(429, "Too Many Requests").bytes())
		return 429
	case FaultHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(200)
		w.Write([]byte("<!DOCTYPE html>\n<html><head><title>系统维护中</title></head><body><h1>系统维护中，请稍后再试</h1></body></html>\n"))
		return 200
	case FaultRedirect:
		loc := redirectLogin + url.QueryEscape(r.URL.RequestURI())
		w.Header().Set("Location", loc)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusFound)
		fmt.Fprintf(w, "<html><body>Session expired: <a href=\"%s\">log in</a></body></html>\n", html.EscapeString(loc))
		return http.StatusFound
	case FaultStall:
		t := time.NewTimer(s.opts.Stall)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-s.closing:
		case <-t.C:
		}
	}
	// reset-before, and a stall that ended
	resetConn(w)
	return 0
}

// resetConn drops the connection without a reply, with a TCP RST when it can.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not a hijackable writer (a recorder, HTTP/2): abort the handler,
		// which makes net/http drop the connection.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := netConn(conn).(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

func netConn(c net.Conn) net.Conn {
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
		return nc.NetConn()
	}
	return c
}

// writeCut sends the head of a complete reply whose body stops halfway, then
// closes the connection: the client sees an unexpected EOF mid-JSON.
func writeCut(w http.ResponseWriter, status int, body []byte) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		status, http.StatusText(status), len(body))
	buf.Write(body[:len(body)/2])
	buf.Flush()
}

// writeSlow dribbles the reply in ten pieces over d.
func (s *Server) writeSlow(w http.ResponseWriter, r *http.Request, status int, body []byte, d time.Duration) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	const pieces = 10
	step := (len(body) + pieces - 1) / pieces
	for len(body) > 0 {
		n := min(step, len(body))
		if _, err := w.Write(body[:n]); err != nil {
			return
		}
		rc.Flush()
		body = body[n:]
		if len(body) == 0 {
			return
		}
		select {
		case <-time.After(d / pieces):
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		}
	}
}
