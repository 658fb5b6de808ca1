package udesktest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// signQuery is the test's own signer (not the client's): parameters sorted
// by key, sign = md5(query + "&" + secret), or md5(secret) alone.
func signQuery(secret string, q url.Values) string {
	enc := q.Encode() // sorted by key
	data := secret
	if enc != "" {
		data = enc + "&" + secret
	}
	sum := md5.Sum([]byte(data))
	if enc != "" {
		enc += "&"
	}
	return enc + "sign=" + hex.EncodeToString(sum[:])
}

func newTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// result is a decoded reply plus its raw bytes.
type result struct {
	HTTP int
	Raw  []byte
	Body map[string]any
}

func (r result) status() int {
	v, _ := r.Body["status"].(float64)
	return int(v)
}

func (r result) str(key string) string {
	v, _ := r.Body[key].(string)
	return v
}

func (r result) num(key string) int64 {
	v, _ := r.Body[key].(float64)
	return int64(v)
}

// call sends a signed request and decodes the JSON reply.
func call(t testing.TB, s *Server, method, path string, q url.Values, body any) result {
	t.Helper()
	return callRaw(t, s, method, s.URL()+path+"?"+signQuery(s.Secret(), q), body)
}

func callRaw(t testing.TB, s *Server, method, u string, body any) result {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, u, err)
	}
	res := result{HTTP: resp.StatusCode, Raw: raw}
	if err := json.Unmarshal(raw, &res.Body); err != nil {
		t.Fatalf("%s %s: reply is not JSON: %v\n%s", method, u, err, raw)
	}
	return res
}

// wantError checks a business error reply.
func wantError(t *testing.T, r result, code int, message string) {
	t.Helper()
	if r.HTTP != 200 || r.status() != code || r.str("message") != message {
		t.Errorf("got HTTP %d status %d message %q error %q; want 200, %d %q", r.HTTP, r.status(), r.str("message"), r.str("error"), code, message)
	}
}

// wantParamError checks a parameter error (the spec's "error" texts).
func wantParamError(t *testing.T, r result, text string) {
	t.Helper()
	if r.HTTP != 200 || r.status() != 1001 || r.str("error") != text {
		t.Errorf("got HTTP %d status %d message %q error %q; want 1001 with error %q", r.HTTP, r.status(), r.str("message"), r.str("error"), text)
	}
}

func wantOK(t *testing.T, r result) {
	t.Helper()
	if r.HTTP != 200 || r.status() != 0 {
		t.Fatalf("got HTTP %d %s; want status 0", r.HTTP, r.Raw)
	}
}

// page is a list reply decoded into the package's own Ticket type.
type page struct {
	Status     int      `json:"status"`
	Size       int      `json:"size"`
	Total      int      `json:"total"`
	TotalPages int      `json:"total_pages"`
	Contents   []Ticket `json:"contents"`
}

func decodePage(t testing.TB, raw []byte) page {
	t.Helper()
	var p page
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("decode page: %v", err)
	}
	return p
}

func pageQuery(page, perPage string) url.Values {
	q := url.Values{}
	if page != "" {
		q.Set("page", page)
	}
	if perPage != "" {
		q.Set("per_page", perPage)
	}
	return q
}
