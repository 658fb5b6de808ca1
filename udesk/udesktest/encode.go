package udesktest

import (
	"strconv"
	"unicode/utf8"
)

// Replies are encoded by hand: a page of 100 tickets is the hot path of every
// export benchmark, and reflection-based encoding would dominate it.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. UTF-8 is written as is; control
// characters, quotes, backslashes, U+2028/U+2029 are escaped and invalid
// bytes become U+FFFD, as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	if utf8.ValidString(s) {
		return appendValidString(b, s)
	}
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = appendEscapedByte(append(b, s[start:i]...), c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendValidString is appendString's fast path for valid UTF-8: only
// ASCII specials and U+2028/U+2029 (E2 80 A8/A9) need looking at.
func appendValidString(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x20 && c != '"' && c != '\\' && c != 0xE2:
			continue
		case c == 0xE2:
			if i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9) {
				b = append(b, s[start:i]...)
				b = append(b, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xF])
				i += 2
				start = i + 1
			}
			continue
		}
		b = appendEscapedByte(append(b, s[start:i]...), c)
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendNullString writes "" as null.
func appendNullString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

func appendNullInt(b []byte, n int64) []byte {
	if n == 0 {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, n, 10)
}

// appendTicket writes t in wire-read form, keys in the spec's order, with
// the custom fields of the catalog fields.
func appendTicket(b []byte, t *Ticket, fields []field) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, t.ID, 10)
	b = append(b, `,"subject":`...)
	b = appendString(b, t.Subject)
	b = append(b, `,"content":`...)
	b = appendString(b, t.Content)
	b = append(b, `,"content_type":`...)
	b = appendString(b, t.ContentType)
	b = append(b, `,"platform":`...)
	b = appendString(b, t.Platform)
	b = append(b, `,"priority":`...)
	b = appendString(b, t.Priority)
	b = append(b, `,"status":`...)
	b = appendString(b, t.Status)
	b = append(b, `,"user":`...)
	b = appendString(b, t.User)
	b = append(b, `,"user_email":`...)
	b = appendNullString(b, t.UserEmail)
	b = append(b, `,"user_cellphone":`...)
	b = appendNullString(b, t.UserCellphone)
	b = append(b, `,"assignee":`...)
	b = appendNullString(b, t.Assignee)
	b = append(b, `,"assignee_id":`...)
	b = appendNullInt(b, t.AssigneeID)
	b = append(b, `,"user_group_id":`...)
	b = appendNullInt(b, t.UserGroupID)
	b = append(b, `,"user_group_name":`...)
	b = appendNullString(b, t.UserGroupName)
	b = append(b, `,"solving_at":`...)
	b = appendString(b, t.SolvingAt)
	b = append(b, `,"replied_by":`...)
	b = appendNullString(b, t.RepliedBy)
	b = append(b, `,"custom_fields":{`...)
	for i := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, fields[i].name)
		b = append(b, ':')
		if v, ok := t.CustomFields[fields[i].name]; ok {
			b = appendString(b, v)
		} else {
			b = append(b, "null"...)
		}
	}
	b = append(b, `},"created_at":`...)
	b = appendString(b, t.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendString(b, t.UpdatedAt)
	return append(b, '}')
}

// reply builds a small JSON object reply in key order.
type reply struct{ b []byte }

func newReply(status int, message string) *reply {
	r := &reply{b: make([]byte, 0, 128)}
	r.b = append(r.b, `{"status":`...)
	r.b = strconv.AppendInt(r.b, int64(status), 10)
	r.b = append(r.b, `,"message":`...)
	r.b = appendString(r.b, message)
	return r
}

func (r *reply) str(key, v string) *reply {
	r.b = append(r.b, ',')
	r.b = appendString(r.b, key)
	r.b = append(r.b, ':')
	r.b = appendString(r.b, v)
	return r
}

func (r *reply) int(key string, v int64) *reply {
	r.b = append(r.b, ',')
	r.b = appendString(r.b, key)
	r.b = append(r.b, ':')
	r.b = strconv.AppendInt(r.b, v, 10)
	return r
}

// raw adds a member whose value is already JSON.
func (r *reply) raw(key string, v []byte) *reply {
	r.b = append(r.b, ',')
	r.b = appendString(r.b, key)
	r.b = append(r.b, ':')
	r.b = append(r.b, v...)
	return r
}

func (r *reply) bytes() []byte { return append(r.b, '}') }

// appendEscapedByte appends the JSON escape of an ASCII byte that cannot
// stand in a string as it is (a quote, a backslash or a control character).
func appendEscapedByte(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}
