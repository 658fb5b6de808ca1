package udesk

import (
	"encoding/json"
	"testing"
)

// BenchmarkDecodePage decodes a full page (100 tickets) as the simulator
// serves it (nulls for empty values): the export's main cost. "fast" is the
// path every well-typed page takes (sonic), "tolerant" the encoding/json one.
func BenchmarkDecodePage(b *testing.B) {
	raw := simPage(b)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := DecodePage(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The head alone (ids, creation times, counts): what a fetch decodes.
	b.Run("head", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := DecodePageHead(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The same page with a numeric custom field value takes the tolerant path.
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
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
