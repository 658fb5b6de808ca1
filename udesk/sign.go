package udesk

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
)

// Signer computes the sign parameter of a request from its query string
// (without sign), exactly as sent. It is an interface so that a second scheme
// (Udesk's newer open_api_v1 family) can be added without touching callers.
type Signer interface {
	Sign(query string) string
}

// NewMD5Signer returns the signer of Udesk's /api/v1 family:
// md5(query + "&" + secret), or md5(secret) when the query is empty, in
// lowercase hex. The returned value never prints its secret.
func NewMD5Signer(secret string) Signer {
	return &md5Signer{secret: secret}
}

type md5Signer struct {
	secret string
}

func (s *md5Signer) Sign(query string) string {
	h := md5.New()
	if query != "" {
		h.Write([]byte(query))
		h.Write([]byte{'&'})
	}
	h.Write([]byte(s.secret))
	return hex.EncodeToString(h.Sum(nil))
}

const redactedSigner = "udesk.MD5Signer(REDACTED)"

// String, GoString and Format keep the secret out of every fmt verb,
// including %#v, which would otherwise print unexported fields.
func (s *md5Signer) String() string   { return redactedSigner }
func (s *md5Signer) GoString() string { return redactedSigner }
func (s *md5Signer) Format(f fmt.State, _ rune) {
	fmt.Fprint(f, redactedSigner)
}
