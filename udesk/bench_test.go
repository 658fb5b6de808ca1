package udesk

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// BenchmarkDecodePage decodes a full page (100 tickets) as the simulator
// serves it (nulls for empty values): the export's main cost. "fast" is the
// path every well-typed page takes (sonic), "tolerant" the encoding/json one.
func BenchmarkDecodePage(b *testing.B) {
	s, err := udesktest.NewServer(udesktest.Options{Tickets: 100, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := newTestClient(b, s.URL(), func(c *Config) { c.Signer = NewMD5Signer(s.Secret()) })
	p, err := c.Page(context.Background(), Listing{}, 1, 100)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(p.Raw)))
		for b.Loop() {
			if _, err := DecodePage(p.Raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The same page with a numeric custom field value takes the tolerant path.
	var doc map[string]any
	if err := json.Unmarshal(p.Raw, &doc); err != nil {
		b.Fatal(err)
	}
	doc["contents"].([]any)[0].(map[string]any)["custom_fields"] = map[string]any{"TextField_7": 13}
	slow, _ := json.Marshal(doc)
	b.Run("tolerant", func(b *testing.B) {
		b.SetBytes(int64(len(slow)))
		for b.Loop() {
			if _, err := DecodePage(slow); err != nil {
				b.Fatal(err)
			}
		}
	})
}
