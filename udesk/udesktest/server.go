package udesktest

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. The zero value serves an empty data set over
// plain HTTP on a free loopback port, with a generated secret.
type Options struct {
	Secret  string // "" => generated
	Tickets int    // initial data set size (deterministic from Seed)
	Seed    int64
	Rate    float64 // requests/second budget; 0 = unlimited; exceeded => HTTP 429 + Retry-After, not processed
	Burst   int     // bucket size; 0 => max(1, Rate)
	Latency time.Duration
	Faults  Faults // see ParseFaults
	Churn   Churn  // tickets created/deleted while paging
	// Order of listings: OrderOldest ("" too) lists ascending ids, new
	// tickets last; OrderNewest lists descending ids, new tickets first, as
	// a helpdesk's ticket view does.
	Order string
	Addr  string // default "127.0.0.1:0"
	TLS   bool   // serve HTTPS with a self-signed cert for 127.0.0.1; CertPEM returns it

	SlowBody time.Duration // how long a "slow" fault dribbles a reply; default 2s
	Stall    time.Duration // how long a "stall" fault holds a request; default 10m
	LogLimit int           // requests kept by Log, most recent; 0 => 100000, <0 => all
	// CacheBytes bounds the memory kept for encoded tickets of the initial
	// data set, so that repeated exports do not regenerate them; they are
	// kept compressed at about 190 bytes a ticket. 0 => 256 MiB (about 1.4M
	// tickets), <0 => no cache.
	CacheBytes int64
	// Logf, when set, gets one line per request (sign redacted, never the secret).
	Logf func(format string, args ...any)
}

// Listing orders (Options.Order).
const (
	OrderOldest = "oldest"
	OrderNewest = "newest"
)

// Churn makes listings shift under a client: before every Every-th page
// request (any listing), Create new tickets are added and Delete existing
// ones, chosen at random, are removed.
type Churn struct {
	Every  int
	Create int
	Delete int
}

// RequestRecord is one request as the server saw it.
type RequestRecord struct {
	Time      time.Time // arrival
	Duration  time.Duration
	Method    string
	Path      string
	Endpoint  string // Endpoint* key, or "METHOD /path" for an unknown route
	Query     string // raw query with sign=REDACTED
	Body      string
	Status    int    // HTTP status written; 0 when the connection was dropped without a reply
	APIStatus int    // the reply's "status" member; -1 when the reply had none
	Fault     string // the injected fault, "" for none
}

// Server is a running simulator.
type Server struct {
	opts    Options
	secret  string
	srv     *http.Server
	ln      net.Listener
	url     string
	certPEM []byte
	closing chan struct{}
	closeMu sync.Once

	mu         sync.RWMutex       // guards the data below
	gen        *generator         //
	order      []int64            // live ticket ids, ascending: the list order
	over       map[int64]*Ticket  // tickets created or changed since generation
	customers  []Customer         // live table (creates add and change customers)
	byEmail    map[string]int32   // lower-cased
	byPhone    map[string]int32   //
	byToken    map[string]int32   //
	replies    map[int64][]Reply  //
	nextID     int64              //
	version    uint64             // bumped by every change, invalidates lists
	lists      map[string]*idList // filtered listings by key
	pageReqs   int                // page requests seen, for churn
	churnRNG   rng                //
	agentByID  map[int64]*Agent   //
	groupByID  map[int64]*Group   //
	filters    []filter           //
	fields     []field            // the live catalog; replaced, never changed in place
	fieldsJSON []byte             // the catalog reply for fields

	enc *encCache // nil without a cache; replaced when the catalog's fields change

	bucket  bucket
	logMu   sync.Mutex // guards log and counts
	log     []RequestRecord
	counts  map[string]int
	faultMu sync.Mutex // guards faultSt
	faultSt faultState
}

type idList struct {
	version uint64
	ids     []int64
}

// NewServer starts a simulator serving over real HTTP (or HTTPS) on loopback.
func NewServer(opts Options) (*Server, error) {
	if opts.Tickets < 0 {
		return nil, fmt.Errorf("udesktest: Tickets must be >= 0, got %d", opts.Tickets)
	}
	if opts.Rate < 0 || math.IsNaN(opts.Rate) {
		return nil, fmt.Errorf("udesktest: Rate must be >= 0, got %v", opts.Rate)
	}
	if opts.Churn.Every < 0 || opts.Churn.Create < 0 || opts.Churn.Delete < 0 {
		return nil, errors.New("udesktest: Churn values must be >= 0")
	}
	switch opts.Order {
	case "":
		opts.Order = OrderOldest
	case OrderOldest, OrderNewest:
	default:
		return nil, fmt.Errorf("udesktest: Order must be %q or %q, got %q", OrderOldest, OrderNewest, opts.Order)
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.SlowBody <= 0 {
		opts.SlowBody = 2 * time.Second
	}
	if opts.Stall <= 0 {
		opts.Stall = 10 * time.Minute
	}
	if opts.LogLimit == 0 {
		opts.LogLimit = 100000
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = 256 << 20
	}
	s := &Server{opts: opts, secret: opts.Secret, closing: make(chan struct{})}
	if s.secret == "" {
		var b [16]byte
		rand.Read(b[:])
		s.secret = hex.EncodeToString(b[:])
	}
	s.initData()
	s.faultSt.set(opts.Faults)
	s.faultSt.forced = map[string][]forcedFault{}
	burst := opts.Burst
	if burst <= 0 {
		burst = max(1, int(opts.Rate))
	}
	s.bucket = bucket{rate: opts.Rate, burst: float64(burst), tokens: float64(burst)}

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("udesktest: listen on %s: %w", opts.Addr, err)
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second,
		// HTTP/1.1 only: connection faults need a hijackable connection.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     log.New(io.Discard, "", 0),
	}
	if opts.Logf != nil {
		s.srv.ErrorLog = log.New(logfWriter(opts.Logf), "", 0)
	}
	scheme := "http"
	if opts.TLS {
		cert, pemBytes, err := selfSignedCert()
		if err != nil {
			ln.Close()
			return nil, err
		}
		s.certPEM = pemBytes
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
		scheme = "https"
	}
	s.ln = ln
	s.url = scheme + "://" + ln.Addr().String()
	go s.srv.Serve(ln)
	return s, nil
}

func (s *Server) initData() {
	s.gen = newGenerator(s.opts.Seed)
	s.customers = append([]Customer(nil), s.gen.customers...)
	s.byEmail, s.byPhone, s.byToken = map[string]int32{}, map[string]int32{}, map[string]int32{}
	for i, c := range s.customers {
		s.indexCustomer(int32(i), c)
	}
	s.order = make([]int64, s.opts.Tickets)
	for i := range s.order {
		s.order[i] = int64(i + 1)
	}
	s.nextID = int64(s.opts.Tickets) + 1
	if s.opts.CacheBytes > 0 {
		s.enc = newEncCache(s.opts.Tickets, s.opts.CacheBytes)
	}
	s.over = map[int64]*Ticket{}
	s.replies = map[int64][]Reply{}
	s.lists = map[string]*idList{}
	s.counts = map[string]int{}
	s.churnRNG = newRNG(s.opts.Seed, 0, streamChurn)
	s.agentByID = map[int64]*Agent{}
	for i := range agents {
		s.agentByID[agents[i].ID] = &agents[i]
	}
	s.groupByID = map[int64]*Group{}
	for i := range groups {
		s.groupByID[groups[i].ID] = &groups[i]
	}
	s.filters = defaultFilters(s.gen.recentSince(s.opts.Tickets))
	s.fields, s.fieldsJSON = catalog, baseFieldsReply
}

// baseFieldsReply is the catalog reply until a field changes.
var baseFieldsReply = FieldsReply()

func (s *Server) indexCustomer(i int32, c Customer) {
	if c.Email != "" {
		s.byEmail[strings.ToLower(c.Email)] = i
	}
	if c.Cellphone != "" {
		s.byPhone[c.Cellphone] = i
	}
	if c.Token != "" {
		s.byToken[c.Token] = i
	}
}

// URL is the base URL, e.g. "http://127.0.0.1:41234".
func (s *Server) URL() string { return s.url }

// Secret is the API secret requests must be signed with.
func (s *Server) Secret() string { return s.secret }

// CertPEM is the self-signed certificate (PEM) when Options.TLS is set.
func (s *Server) CertPEM() []byte { return s.certPEM }

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.certPEM != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(s.certPEM)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{Transport: tr}
}

// Close stops serving, ends stalled requests and closes every connection.
func (s *Server) Close() error {
	var err error
	s.closeMu.Do(func() {
		close(s.closing)
		err = s.srv.Close()
	})
	return err
}

// Handler is the simulator as an http.Handler (signing, budget, faults and
// all). Connection faults need a hijackable HTTP/1.1 writer; elsewhere they
// abort the handler with http.ErrAbortHandler.
func (s *Server) Handler() http.Handler { return s }

// Agents, Groups and Customers describe the tenant (copies).
func (s *Server) Agents() []Agent { return slices.Clone(agents) }

// Groups lists the agent groups.
func (s *Server) Groups() []Group { return slices.Clone(groups) }

// Customers lists the live customer table (creates add to it).
func (s *Server) Customers() []Customer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.customers)
}

// Tickets returns every live ticket in list order (Options.Order).
func (s *Server) Tickets() []Ticket {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Ticket, 0, len(s.order))
	for _, id := range s.inOrder(s.order, 0, len(s.order), nil) {
		out = append(out, *s.ticket(id).clone())
	}
	return out
}

// inOrder appends to buf the ids at list positions from..to-1 of the
// ascending ids, in list order.
func (s *Server) inOrder(ids []int64, from, to int, buf []int64) []int64 {
	if s.opts.Order != OrderNewest {
		return append(buf, ids[from:to]...)
	}
	for i := from; i < to; i++ {
		buf = append(buf, ids[len(ids)-1-i])
	}
	return buf
}

// Ticket returns one live ticket.
func (s *Server) Ticket(id int64) (Ticket, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.exists(id) {
		return Ticket{}, false
	}
	return *s.ticket(id).clone(), true
}

// UpdateTicket changes a ticket behind the client's back, as an agent would.
// Unless fn sets UpdatedAt itself, updated_at moves to now, and always to
// at least one second after its previous value. It returns false when no
// such ticket lives.
func (s *Server) UpdateTicket(id int64, fn func(*Ticket)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.exists(id) {
		return false
	}
	s.change(id, fn)
	return true
}

// change applies fn to a copy of live ticket id and stores it, with
// updated_at moved as UpdateTicket says (s.mu held).
func (s *Server) change(id int64, fn func(*Ticket)) {
	old := s.ticket(id)
	t := old.clone()
	fn(t)
	t.ID = id
	if t.UpdatedAt == old.UpdatedAt {
		t.UpdatedAt = laterTime(old.UpdatedAt, time.Now())
	}
	s.over[id] = t
	s.version++
}

// laterTime is now in the API's time form, or one second after prev when
// prev is not earlier than now: an update must always move updated_at.
func laterTime(prev string, now time.Time) string {
	at := now.Unix()
	if p, err := time.Parse(timeLayout, prev); err == nil && p.Unix() >= at {
		at = p.Unix() + 1
	}
	return formatTime(at)
}

// DeleteTicket removes a ticket, as churn does.
func (s *Server) DeleteTicket(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delete(id)
}

// Replies lists the replies added to a ticket, oldest first.
func (s *Server) Replies(id int64) []Reply {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.replies[id])
}

// Requests counts every request that arrived, per endpoint key, including
// those refused by the budget, a fault or the signature check.
func (s *Server) Requests() map[string]int {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// Log returns the recorded requests, oldest first (at most Options.LogLimit).
func (s *Server) Log() []RequestRecord {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return slices.Clone(s.log)
}

// SetFaults replaces the random faults (and reseeds their RNG).
func (s *Server) SetFaults(f Faults) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faultSt.set(f)
}

// FailNext makes the next n requests to endpoint (an Endpoint* key, a short
// name such as "create", or "" for any endpoint) get fault. Forced faults
// queue in call order and come before random ones. It panics on an unknown
// fault kind or endpoint: that is a mistake in the test.
func (s *Server) FailNext(endpoint, fault string, n int) {
	key, ok := endpointKey(endpoint)
	if !ok {
		panic(fmt.Sprintf("udesktest: FailNext: unknown endpoint %q", endpoint))
	}
	if !validFault(fault) {
		panic(fmt.Sprintf("udesktest: FailNext: unknown fault %q", fault))
	}
	if n <= 0 {
		return
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faultSt.forced[key] = append(s.faultSt.forced[key], forcedFault{fault, n})
}

// exists reports whether id is live (s.mu held).
func (s *Server) exists(id int64) bool {
	_, ok := slices.BinarySearch(s.order, id)
	return ok
}

// ticket returns the current state of a live ticket (s.mu held); the result
// must not be modified.
func (s *Server) ticket(id int64) *Ticket {
	if t, ok := s.over[id]; ok {
		return t
	}
	return s.gen.ticket(id)
}

// coreOf gives the attributes listings filter on (s.mu held).
func (s *Server) coreOf(id int64) (status, priority string, assignee int64, customer int32) {
	if t, ok := s.over[id]; ok {
		return t.Status, t.Priority, t.AssigneeID, t.customer
	}
	c := s.gen.core(id)
	if c.agent >= 0 {
		assignee = agents[c.agent].ID
	}
	return statusEN[c.status], priorityZH[c.priority], assignee, c.customer
}

func (s *Server) delete(id int64) bool {
	i, ok := slices.BinarySearch(s.order, id)
	if !ok {
		return false
	}
	s.order = slices.Delete(s.order, i, i+1)
	delete(s.over, id)
	delete(s.replies, id)
	s.version++
	return true
}

// add stores a new ticket under the next id (s.mu held).
func (s *Server) add(t *Ticket) int64 {
	t.ID = s.nextID
	s.nextID++
	s.over[t.ID] = t
	s.order = append(s.order, t.ID)
	s.version++
	return t.ID
}

// churn runs before a page request is served.
func (s *Server) churn() {
	c := s.opts.Churn
	if c.Every <= 0 || (c.Create == 0 && c.Delete == 0) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageReqs++
	if s.pageReqs%c.Every != 0 {
		return
	}
	for range c.Delete {
		if len(s.order) == 0 {
			break
		}
		s.delete(s.order[s.churnRNG.intn(len(s.order))])
	}
	for range c.Create {
		s.createTicket(Ticket{})
	}
}

// ServeHTTP runs one request: budget, latency, fault, signature, endpoint;
// admin requests (under /_sim/) only get the signature check.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ep, rt := route(r.Method, r.URL.Path)
	admin := strings.HasPrefix(r.URL.Path, adminPrefix)
	if admin {
		ep, _ = adminRoute(r.Method, r.URL.Path)
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	rec := RequestRecord{Time: start, Method: r.Method, Path: r.URL.Path, Endpoint: ep,
		Query: redactQuery(r.URL.RawQuery), Body: string(body), APIStatus: -1}
	s.logMu.Lock()
	s.counts[ep]++
	s.logMu.Unlock()
	// Record even when a fault aborts the handler with a panic.
	defer func() {
		rec.Duration = time.Since(start)
		s.record(rec)
	}()

	if admin {
		status, reply := s.serveAdmin(r, body)
		rec.Status, rec.APIStatus = status, apiStatus(reply)
		s.write(w, status, reply)
		return
	}
	if ok, wait := s.bucket.take(start); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		rec.Status, rec.APIStatus = 429, 429
		s.write(w, 429, newReply(429, "请求过于频繁,请稍后再试").bytes())
		return
	}
	if d := s.opts.Latency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.closing:
			t.Stop()
			return
		}
	}
	s.faultMu.Lock()
	fault := s.faultSt.pick(ep)
	s.faultMu.Unlock()
	rec.Fault = fault
	if processedBefore(fault) {
		rec.Status = s.failEarly(w, r, fault)
		return
	}

	status, reply := s.process(r, rt, body)
	rec.Status, rec.APIStatus = status, apiStatus(reply)
	switch fault {
	case FaultResetAfter:
		rec.Status = 0
		resetConn(w)
	case FaultCut:
		writeCut(w, status, reply)
	case FaultSlow:
		s.writeSlow(w, r, status, reply, s.opts.SlowBody)
	default:
		s.write(w, status, reply)
	}
	recycle(reply)
}

func (s *Server) write(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// apiStatus reads the leading "status" member every reply starts with.
func apiStatus(b []byte) int {
	const p = `{"status":`
	if len(b) < len(p) || string(b[:len(p)]) != p {
		return -1
	}
	end := len(p)
	for end < len(b) && b[end] >= '0' && b[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(string(b[len(p):end]))
	if err != nil {
		return -1
	}
	return n
}

func (s *Server) record(rec RequestRecord) {
	if s.opts.Logf != nil {
		q := ""
		if rec.Query != "" {
			q = "?" + rec.Query
		}
		s.opts.Logf("%s %s%s -> %d status=%d fault=%q %v", rec.Method, rec.Path, q, rec.Status, rec.APIStatus, rec.Fault, rec.Duration.Round(time.Millisecond))
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if lim := s.opts.LogLimit; lim > 0 && len(s.log) >= lim {
		// Drop the oldest half at once so trimming stays amortised O(1).
		s.log = append(s.log[:0], s.log[len(s.log)-lim/2:]...)
	}
	s.log = append(s.log, rec)
}

// logfWriter sends net/http's own messages (TLS handshake errors) to Logf.
type logfWriter func(format string, args ...any)

func (f logfWriter) Write(p []byte) (int, error) {
	f("%s", strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// redactQuery hides the sign value; nothing else in a query is secret.
func redactQuery(q string) string {
	if q == "" {
		return ""
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		if strings.HasPrefix(p, "sign=") {
			parts[i] = "sign=REDACTED"
		}
	}
	return strings.Join(parts, "&")
}

// bucket is a token bucket; rate 0 means unlimited.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// take spends one token, or reports how long until one is available.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	if b.rate <= 0 {
		return true, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}
