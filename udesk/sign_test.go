package udesk

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func TestMD5SignerPublishedVector(t *testing.T) {
	s := NewMD5Signer("99d80d18b0b9a994a8d0283e830e5099")
	if got, want := s.Sign("page=1&per_page=10"), "b48d4134e7d13839b09b5423e300c352"; got != want {
		t.Errorf("Sign(page=1&per_page=10) = %s, want %s (published vector)", got, want)
	}
	sum := md5.Sum([]byte("99d80d18b0b9a994a8d0283e830e5099"))
	if got, want := s.Sign(""), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("Sign(\"\") = %s, want md5(secret) %s", got, want)
	}
}

func TestMD5SignerNeverPrintsSecret(t *testing.T) {
	const secret = "canary-secret-0123456789"
	s := NewMD5Signer(secret)
	c, err := NewClient(Config{BaseURL: "http://127.0.0.1:1", Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{BaseURL: "http://x", Signer: s}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		for name, v := range map[string]any{"signer": s, "client": c, "config": cfg, "*config": &cfg} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) {
				t.Errorf("fmt %s of %s reveals the secret: %s", verb, name, out)
			}
		}
	}
}
