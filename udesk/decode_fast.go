package udesk

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// decodePageFast reads a listing reply in the form the API sends it (every
// value of its declared type or null, keys spelt exactly) in one pass over the
// bytes, about four times faster than encoding/json. Strings without escapes
// are slices of one copy of the body, so a page costs a few allocations per
// ticket instead of one per value. ok is false for anything else — another
// type, a key that differs only in case, a duplicate key, invalid JSON — and
// the caller then decodes with encoding/json, whose result this one equals
// wherever it answers (FuzzDecodePageFast checks it).
func decodePageFast(body []byte) (p *Page, env *envelope, ok bool) {
	d := fastDecoder{b: body, s: string(body)}
	p, env = &Page{Raw: body}, &envelope{}
	if !d.page(p, env) {
		return nil, nil, false
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, nil, false
	}
	return p, env, true
}

type fastDecoder struct {
	b  []byte
	s  string // the same bytes, for substrings that need no allocation
	i  int
	cf int // custom fields in the last ticket: the next map's size hint
}

func (d *fastDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips white space and reports the next byte (0 at the end).
func (d *fastDecoder) next() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *fastDecoder) lit(word string) bool {
	if len(d.b)-d.i >= len(word) && d.s[d.i:d.i+len(word)] == word {
		d.i += len(word)
		return true
	}
	return false
}

// object calls member for each key of an object, positioned at its value;
// member returns false to give up.
func (d *fastDecoder) object(member func(key string) bool) bool {
	if d.next() != '{' {
		return false
	}
	d.i++
	if d.next() == '}' {
		d.i++
		return true
	}
	for {
		if d.next() != '"' {
			return false
		}
		key, ok := d.str()
		if !ok || d.next() != ':' {
			return false
		}
		d.i++
		if !member(key) {
			return false
		}
		switch d.next() {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

// strClass sorts the bytes of a JSON string's text: 0 plain ASCII, 1 the
// closing quote, 2 a backslash, 3 a control character (invalid), 4 a byte of
// a multi-byte UTF-8 sequence.
var strClass = func() (t [256]byte) {
	for c := range 0x20 {
		t[c] = 3
	}
	t['"'], t['\\'] = 1, 2
	for c := utf8.RuneSelf; c < 256; c++ {
		t[c] = 4
	}
	return t
}()

// str reads a string at d.i (its opening quote).
func (d *fastDecoder) str() (string, bool) {
	start := d.i + 1
	ascii := true
	b := d.b
	for j := start; j < len(b); j++ {
		switch strClass[b[j]] {
		case 0:
		case 1:
			d.i = j + 1
			if !ascii && !utf8.ValidString(d.s[start:j]) {
				return "", false // encoding/json would replace the bad bytes
			}
			return d.s[start:j], true
		case 2:
			return d.escaped(start, j)
		case 3:
			return "", false
		case 4:
			ascii = false
		}
	}
	return "", false
}

// escaped reads a string holding escapes, from start (after its quote); the
// first backslash is at j.
func (d *fastDecoder) escaped(start, j int) (string, bool) {
	b := d.b
	out := make([]byte, 0, j-start+64)
	out = append(out, b[start:j]...)
	for j < len(b) {
		// Copy the run up to the next quote, backslash or control character.
		k := j
		for k < len(b) && strClass[b[k]]&3 == 0 {
			k++
		}
		out = append(out, b[j:k]...)
		j = k
		if j >= len(b) {
			break
		}
		switch strClass[b[j]] {
		case 1:
			d.i = j + 1
			if !utf8.Valid(out) {
				return "", false
			}
			// out is never written again: the string can share its bytes.
			return unsafe.String(unsafe.SliceData(out), len(out)), true
		case 3:
			return "", false
		}
		if j+1 >= len(b) {
			return "", false
		}
		j += 2
		switch b[j-1] {
		case '"', '\\', '/':
			out = append(out, b[j-1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := d.hex4(j)
			if !ok {
				return "", false
			}
			j += 4
			if utf16.IsSurrogate(r) {
				// Only a valid pair is taken here; encoding/json turns a lone
				// surrogate into U+FFFD.
				if j+6 > len(b) || b[j] != '\\' || b[j+1] != 'u' {
					return "", false
				}
				r2, ok := d.hex4(j + 2)
				if r = utf16.DecodeRune(r, r2); !ok || r == utf8.RuneError {
					return "", false
				}
				j += 6
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (d *fastDecoder) hex4(j int) (rune, bool) {
	if j+4 > len(d.b) {
		return 0, false
	}
	var r rune
	for _, c := range d.b[j : j+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// strOrNull reads a string or null ("").
func (d *fastDecoder) strOrNull() (string, bool) {
	switch d.next() {
	case '"':
		return d.str()
	case 'n':
		return "", d.lit("null")
	}
	return "", false
}

// intOrNull reads an integer number or null (0). A number with a fraction or
// exponent is left to the tolerant decoder.
func (d *fastDecoder) intOrNull() (int64, bool) {
	c := d.next()
	if c == 'n' {
		return 0, d.lit("null")
	}
	start := d.i
	if c == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	if d.i == digits || (d.b[digits] == '0' && d.i-digits > 1) {
		return 0, false
	}
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	n, err := strconv.ParseInt(d.s[start:d.i], 10, 64)
	return n, err == nil
}

// skip passes over any valid JSON value.
func (d *fastDecoder) skip(depth int) bool {
	if depth > 64 {
		return false
	}
	switch c := d.next(); {
	case c == '"':
		_, ok := d.str()
		return ok
	case c == '{':
		return d.object(func(string) bool { return d.skip(depth + 1) })
	case c == '[':
		return d.array(func() bool { return d.skip(depth + 1) })
	case c == 't':
		return d.lit("true")
	case c == 'f':
		return d.lit("false")
	case c == 'n':
		return d.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return false
}

func (d *fastDecoder) array(elem func() bool) bool {
	if d.next() != '[' {
		return false
	}
	d.i++
	if d.next() == ']' {
		d.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch d.next() {
		case ',':
			d.i++
		case ']':
			d.i++
			return true
		default:
			return false
		}
	}
}

// number passes over a number in JSON's grammar.
func (d *fastDecoder) number() bool {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	return true
}

// unknownKey reports whether a key that names no member may be skipped:
// encoding/json matches member names case-insensitively (with Unicode
// folding), so a key that might fold onto one is left to it.
func unknownKey(key string, names []string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return false
		}
	}
	for _, n := range names {
		if len(n) == len(key) && asciiEqualFold(n, key) {
			return false
		}
	}
	return true
}

func asciiEqualFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

var pageKeys = []string{"status", "message", "error", "size", "total", "total_pages", "contents"}

func (d *fastDecoder) page(p *Page, env *envelope) bool {
	var seen uint32
	return d.object(func(key string) bool {
		k := indexOf(pageKeys, key)
		if k < 0 {
			return unknownKey(key, pageKeys) && d.skip(0)
		}
		if seen&(1<<k) != 0 {
			return false
		}
		seen |= 1 << k
		var n int64
		var s string
		ok := true
		switch key {
		case "status":
			n, ok = d.intOrNull()
			env.Status = flexInt(n)
		case "message":
			s, ok = d.strOrNull()
			env.Message = flexString(s)
		case "error":
			s, ok = d.strOrNull()
			env.ErrorText = flexString(s)
		case "size":
			n, ok = d.intOrNull()
			p.Size = int(n)
		case "total":
			n, ok = d.intOrNull()
			p.Total = int(n)
		case "total_pages":
			n, ok = d.intOrNull()
			p.TotalPages = int(n)
		case "contents":
			if d.next() == 'n' {
				p.Tickets = nil
				return d.lit("null")
			}
			ts := make([]Ticket, 0, 100)
			ok = d.array(func() bool {
				ts = append(ts, Ticket{})
				return d.ticket(&ts[len(ts)-1])
			})
			if len(ts) > 0 {
				p.Tickets = ts
			}
		}
		return ok
	})
}

func indexOf(keys []string, key string) int {
	for i, k := range keys {
		if k == key {
			return i
		}
	}
	return -1
}

var ticketKeys = []string{"id", "subject", "content", "content_type", "platform", "priority", "status", "user",
	"user_email", "user_cellphone", "assignee", "assignee_id", "user_group_id", "user_group_name", "solving_at",
	"replied_by", "custom_fields", "created_at", "updated_at"}

func (d *fastDecoder) ticket(t *Ticket) bool {
	var seen uint32
	return d.object(func(key string) bool {
		k := indexOf(ticketKeys, key)
		if k < 0 {
			return unknownKey(key, ticketKeys) && d.skip(0)
		}
		if seen&(1<<k) != 0 {
			return false
		}
		seen |= 1 << k
		var dst *string
		switch k {
		case 0:
			var ok bool
			t.ID, ok = d.intOrNull()
			return ok
		case 11:
			var ok bool
			t.AssigneeID, ok = d.intOrNull()
			return ok
		case 12:
			var ok bool
			t.UserGroupID, ok = d.intOrNull()
			return ok
		case 16:
			return d.customFields(t)
		case 1:
			dst = &t.Subject
		case 2:
			dst = &t.Content
		case 3:
			dst = &t.ContentType
		case 4:
			dst = &t.Platform
		case 5:
			dst = &t.Priority
		case 6:
			dst = &t.Status
		case 7:
			dst = &t.User
		case 8:
			dst = &t.UserEmail
		case 9:
			dst = &t.UserCellphone
		case 10:
			dst = &t.Assignee
		case 13:
			dst = &t.UserGroupName
		case 14:
			dst = &t.SolvingAt
		case 15:
			dst = &t.RepliedBy
		case 17:
			dst = &t.CreatedAt
		case 18:
			dst = &t.UpdatedAt
		}
		s, ok := d.strOrNull()
		*dst = s
		return ok
	})
}

// customFields reads a custom_fields object of strings and nulls (""), or null.
func (d *fastDecoder) customFields(t *Ticket) bool {
	if d.next() == 'n' {
		return d.lit("null")
	}
	m := make(CustomFields, max(d.cf, 8))
	ok := d.object(func(key string) bool {
		v, ok := d.strOrNull()
		m[key] = v
		return ok
	})
	d.cf = len(m)
	t.CustomFields = m
	return ok
}
