package udesk

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A server whose certificate is not trusted is refused at once: retrying
// cannot make it trusted, and a user waiting through backoff learns nothing.
func TestUntrustedCertificateIsPermanent(t *testing.T) {
	var hits int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.Write([]byte(`{"status":0,"message":"ok","ticket_fields":[]}`))
	}))
	defer srv.Close()
	c, err := NewClient(Config{BaseURL: srv.URL, Signer: NewMD5Signer("s")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Fields(context.Background())
	var ue *Error
	if !errors.As(err, &ue) || ue.Class != Permanent {
		t.Fatalf("err = %v, want a permanent *Error", err)
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %q does not say the certificate is the problem", err)
	}
	if st := c.Stats(); st.Requests != 1 || st.Retries != 0 {
		t.Errorf("stats %+v: want one attempt and no retry", st)
	}
	if hits != 0 {
		t.Errorf("the handler ran %d times through an untrusted connection", hits)
	}
}
