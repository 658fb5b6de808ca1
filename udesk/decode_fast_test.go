package udesk

import (
	"context"
	"reflect"
	"testing"

	"github.com/udesk-etl/udesk-etl/udesk/udesktest"
)

// simPage is a page of 100 tickets as the simulator serves it.
func simPage(tb testing.TB) []byte {
	tb.Helper()
	s, err := udesktest.NewServer(udesktest.Options{Tickets: 100, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	c := newTestClient(tb, s.URL(), func(c *Config) { c.Signer = NewMD5Signer(s.Secret()) })
	p, err := c.Page(context.Background(), Listing{}, 1, 100)
	if err != nil {
		tb.Fatal(err)
	}
	return p.Raw
}

// checkFast fails when the fast decoder answers body differently from
// encoding/json; it reports whether the fast decoder answered.
func checkFast(t *testing.T, body []byte) bool {
	t.Helper()
	fp, fenv, ok := decodePageFast(body)
	if !ok {
		return false
	}
	sp, senv, err := decodePageStd(body)
	if err != nil {
		t.Fatalf("fast decoder accepted what encoding/json refuses (%v):\n%s", err, body)
	}
	if !reflect.DeepEqual(fp, sp) || !reflect.DeepEqual(fenv, senv) {
		t.Fatalf("fast and encoding/json decoders differ on\n%s\nfast: %+v %+v\nstd:  %+v %+v", body, fp, fenv, sp, senv)
	}
	return true
}

func TestDecodePageFastMatchesEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		fast bool // the fast decoder answers it
	}{
		{"simulator page", string(simPage(t)), true},
		{"spec example", specPage, true},
		{"escapes", `{"status":0,"contents":[{"id":1,"subject":"a\"b\\c\/d\b\f\n\r\t\u00e9\u4e2d\ud83d\ude00","custom_fields":{"K\u0031":"v\u0000"}}]}`, true},
		{"escaped key", `{"status":0,"contents":[{"\u0069d":5}]}`, true},
		{"nulls", `{"status":null,"message":null,"size":null,"contents":[{"id":null,"subject":null,"custom_fields":{"A":null}}]}`, true},
		{"null contents", `{"status":0,"contents":null}`, true},
		{"empty contents", ` { "status" : 0 , "contents" : [ ] } `, true},
		{"unknown members skipped", `{"status":0,"x":[1,-2.5e3,{"y":true,"z":false},null,"s"],"contents":[{"id":2,"tags":["a"],"custom_fields":{}}]}`, true},
		{"error reply", `{"status":2002,"message":"签名错误"}`, true},
		{"numeric custom field", `{"status":0,"contents":[{"id":1,"custom_fields":{"N":13}}]}`, false},
		{"string id", `{"status":0,"contents":[{"id":"1"}]}`, false},
		{"float total", `{"status":0,"total":2.0}`, false},
		{"key in other case", `{"status":0,"contents":[{"ID":1}]}`, false},
		{"key folding to a member", `{"status":0,"contents":[{"ſubject":"x"}]}`, false},
		{"duplicate member", `{"status":0,"contents":[{"id":1,"id":2}]}`, false},
		{"lone surrogate", `{"status":0,"contents":[{"subject":"\ud83d"}]}`, false},
		{"invalid UTF-8", "{\"status\":0,\"contents\":[{\"subject\":\"\xff\"}]}", false},
		{"trailing garbage", `{"status":0} x`, false},
		{"truncated", `{"status":0,"contents":[{"id":1`, false},
		{"leading zero", `{"status":01}`, false},
		{"null ticket", `{"status":0,"contents":[null]}`, false},
		{"control character", "{\"status\":0,\"message\":\"a\tb\"}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkFast(t, []byte(tc.body)); got != tc.fast {
				t.Errorf("fast decoder answered: %v, want %v", got, tc.fast)
			}
			// Whoever answers, DecodePage's result is encoding/json's.
			p, _, err := decodePage([]byte(tc.body))
			sp, _, serr := decodePageStd([]byte(tc.body))
			if (err == nil) != (serr == nil) || !reflect.DeepEqual(p, sp) {
				t.Errorf("decodePage = %+v, %v; encoding/json = %+v, %v", p, err, sp, serr)
			}
		})
	}
}

// FuzzDecodePageFast checks that wherever the fast decoder answers, it
// answers what encoding/json does.
func FuzzDecodePageFast(f *testing.F) {
	// Small seeds: the engine minimises every new input, which takes long on a
	// whole page (TestDecodePageFastMatchesEncodingJSON checks one).
	f.Add([]byte(specPage))
	f.Add([]byte(`{"status":0,"contents":[{"id":1,"subject":"\u00e9\ud83d\ude00","custom_fields":{"A":null,"B":"x"}}],"x":[1.5e3,true]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkFast(t, body)
	})
}

// BenchmarkDecodePageEncodingJSON decodes the page BenchmarkDecodePage/fast
// does with encoding/json alone: the decoder before the fast path.
func BenchmarkDecodePageEncodingJSON(b *testing.B) {
	body := simPage(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := decodePageStd(body); err != nil {
			b.Fatal(err)
		}
	}
}
