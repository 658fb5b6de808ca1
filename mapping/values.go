package mapping

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/udesk-etl/udesk-etl/udesk"
)

// APIZone is the offset the API writes its timestamps in (+0800, China
// Standard Time, no daylight saving). Datetime custom fields carry no offset on
// the wire and are read and written in this zone.
var APIZone = time.FixedZone("+0800", 8*3600)

// The exact forms the API takes and gives for custom field values.
const (
	DateLayout     = "2006-01-02"
	TimeLayout     = "15:04:05"
	DatetimeLayout = "2006-01-02 15:04" // minute precision, as the spec's examples
)

// TimestampLayout is the text form of a timestamp in the files an export
// writes (CSV, JSON lines, the originals of an editable workbook) and in the
// cells the file readers give back: RFC 3339 with the offset, which DuckDB,
// pandas and polars read as a timestamp. Imports also take the older
// "2006-01-02 15:04:05 -0700" and the API's "2006-01-02 15:04:05".
const TimestampLayout = time.RFC3339

// Expected forms, for error messages.
const (
	wantDate     = "a date such as 2016-08-11 (also 2016/8/11, 2016年8月11日, 20160811 or an Excel date serial number)"
	wantTime     = "a time of day such as 14:44:36 or 14:44 (or an Excel time fraction such as 0.614)"
	wantDatetime = "a date and time to the minute such as 2017-05-03 14:44 (also 2017/5/3 14:44, 2017-05-03T14:44:00+08:00, \"2017-05-03 14:44:00 +0800\" or an Excel serial number)"
	wantLink     = "a web address starting with http://, https:// or ftp://"
	wantNumber   = "a whole number such as 13, 0 or more (13.0 is accepted)"
	wantNumeric  = "a number such as 13.33"
	wantEmail    = "an email address such as name@example.com"
	wantID       = "a positive whole number (a ticket, agent or group id)"
)

// civil is a calendar date and time of day as written, before zone handling.
type civil struct {
	y, mo, d, h, mi, s int
	fracZero           bool // any fractional seconds are zeros
	hasTime, hasZone   bool
	off                int // seconds east of UTC, when hasZone
}

var civilRe = regexp.MustCompile(`^(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})\s*日?` +
	`(?:(?:\s+|\s*[Tt]\s*)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?` +
	`\s*(Z|z|UTC|GMT|[+-]\d{2}:?\d{2})?$`)

var compactDateRe = regexp.MustCompile(`^(\d{4})(\d{2})(\d{2})$`)

var timeRe = regexp.MustCompile(`^(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?$`)

// parseCivil reads the common spellings of a date with an optional time of
// day and offset. It checks ranges (no 2016-02-30, no 25:00).
func parseCivil(s string) (civil, bool) {
	s = strings.TrimSpace(s)
	var c civil
	if m := compactDateRe.FindStringSubmatch(s); m != nil {
		c.y, c.mo, c.d = atoi(m[1]), atoi(m[2]), atoi(m[3])
		c.fracZero = true
		return c, validDate(c.y, c.mo, c.d)
	}
	m := civilRe.FindStringSubmatch(s)
	if m == nil {
		return c, false
	}
	c.y, c.mo, c.d = atoi(m[1]), atoi(m[2]), atoi(m[3])
	c.fracZero = strings.Trim(m[7], "0") == ""
	if m[4] != "" {
		c.hasTime = true
		c.h, c.mi, c.s = atoi(m[4]), atoi(m[5]), atoi(m[6])
	}
	if z := m[8]; z != "" {
		c.hasZone = true
		if z[0] == '+' || z[0] == '-' {
			z = strings.ReplaceAll(z[1:], ":", "")
			c.off = (atoi(z[:2])*60 + atoi(z[2:])) * 60
			if m[8][0] == '-' {
				c.off = -c.off
			}
			if atoi(z[:2]) > 14 || atoi(z[2:]) > 59 {
				return c, false
			}
		}
	}
	return c, validDate(c.y, c.mo, c.d) && c.h < 24 && c.mi < 60 && c.s < 60
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func validDate(y, mo, d int) bool {
	if y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return false
	}
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	return t.Day() == d
}

// Excel date serial numbers: day 1 is 1900-01-01, and Excel counts a
// 1900-02-29 that never was (serial 60); 2958465 is 9999-12-31. Compact dates
// (20160811) are above that range, so the two spellings never collide.
const maxSerial = 2958465

var serialRe = regexp.MustCompile(`^\d+(\.\d+)?$`)

// parseSerial reads an Excel serial number as a day and a second of that day
// (rounded to the nearest second).
func parseSerial(s string) (day time.Time, sec int, ok bool) {
	s = strings.TrimSpace(s)
	if !serialRe.MatchString(s) {
		return time.Time{}, 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v >= maxSerial+1 {
		return time.Time{}, 0, false
	}
	total := int64(math.Round(v * 86400))
	days, sec := int(total/86400), int(total%86400)
	switch {
	case days == 60:
		return time.Time{}, 0, false
	case days < 60:
		days++ // before Excel's phantom 1900-02-29
	}
	return time.Date(1899, 12, 30+days, 0, 0, 0, 0, time.UTC), sec, true
}

// normDate turns a user-written date into the API's form 2006-01-02.
func normDate(v string) (string, error) {
	if day, sec, ok := parseSerial(v); ok && day.Year() >= 1900 {
		if sec != 0 {
			return "", fmt.Errorf("%q has a time of day; expected %s", v, wantDate)
		}
		return day.Format(DateLayout), nil
	}
	c, ok := parseCivil(v)
	if !ok {
		return "", fmt.Errorf("%q is not a date; expected %s", v, wantDate)
	}
	if c.hasTime && (c.h != 0 || c.mi != 0 || c.s != 0 || !c.fracZero) {
		return "", fmt.Errorf("%q has a time of day; expected %s", v, wantDate)
	}
	return fmt.Sprintf("%04d-%02d-%02d", c.y, c.mo, c.d), nil
}

// normTime turns a user-written time of day into the API's form 15:04:05.
func normTime(v string) (string, error) {
	t := strings.TrimSpace(v)
	if m := timeRe.FindStringSubmatch(t); m != nil {
		h, mi, s := atoi(m[1]), atoi(m[2]), atoi(m[3])
		if h < 24 && mi < 60 && s < 60 && strings.Trim(m[4], "0") == "" {
			return fmt.Sprintf("%02d:%02d:%02d", h, mi, s), nil
		}
	} else if day, sec, ok := parseSerial(t); ok && day.Year() < 1900 && strings.HasPrefix(t, "0") {
		// An Excel time cell is a fraction of a day below 1.
		return fmt.Sprintf("%02d:%02d:%02d", sec/3600, sec/60%60, sec%60), nil
	}
	return "", fmt.Errorf("%q is not a time of day; expected %s", v, wantTime)
}

// normDatetime turns a user-written date and time into the API's form
// 2006-01-02 15:04 in APIZone. A value with an offset is converted to
// APIZone; one without is taken as APIZone's. Seconds must be zero: the
// field holds minutes.
func normDatetime(v string) (string, error) {
	var t time.Time
	if day, sec, ok := parseSerial(v); ok && day.Year() >= 1900 {
		t = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, sec, 0, APIZone)
	} else {
		c, ok := parseCivil(v)
		if !ok {
			return "", fmt.Errorf("%q is not a date and time; expected %s", v, wantDatetime)
		}
		if !c.fracZero {
			return "", fmt.Errorf("%q has fractions of a second; expected %s", v, wantDatetime)
		}
		loc := APIZone
		if c.hasZone && c.off != 8*3600 {
			loc = time.FixedZone("", c.off)
		}
		t = time.Date(c.y, time.Month(c.mo), c.d, c.h, c.mi, c.s, 0, loc).In(APIZone)
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return "", fmt.Errorf("%q is out of range; expected %s", v, wantDatetime)
	}
	if t.Second() != 0 {
		return "", fmt.Errorf("%q has seconds, but the field holds minutes; expected %s", v, wantDatetime)
	}
	return t.Format(DatetimeLayout), nil
}

// normLink checks a web address: http, https or ftp, with a host.
func normLink(v string) (string, error) {
	s := strings.TrimSpace(v)
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
		return "", fmt.Errorf("%q is not a web address; expected %s", v, wantLink)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ftp":
		return s, nil
	}
	return "", fmt.Errorf("%q is not an http, https or ftp address; expected %s", v, wantLink)
}

var wholeRe = regexp.MustCompile(`^\+?(\d+)(?:\.0*)?$`)

// parseWhole reads a whole number of 0 or more; "13.0" (a number cell from a
// spreadsheet, or a column pandas read as floats) is accepted.
func parseWhole(v string) (int64, bool) {
	m := wholeRe.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	return n, err == nil
}

// parsePositive reads a whole number above 0.
func parsePositive(v string) (int64, bool) {
	n, ok := parseWhole(v)
	return n, ok && n > 0
}

// normNumber turns the value of a number field (正整数, "positive integer" in
// the UI) into its plain decimal form. 0 is accepted: the API stores and
// returns it, and what it returns must import back.
func normNumber(v string) (string, error) {
	n, ok := parseWhole(v)
	if !ok {
		return "", fmt.Errorf("%q is not a whole number; expected %s", v, wantNumber)
	}
	return strconv.FormatInt(n, 10), nil
}

var decimalRe = regexp.MustCompile(`^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$`)

// normNumeric checks a decimal number. Plain decimals keep their digits
// (no float rounding); exponent forms are written out.
func normNumeric(v string) (string, error) {
	s := strings.TrimSpace(v)
	f, err := strconv.ParseFloat(s, 64)
	if !decimalRe.MatchString(s) || err != nil || math.IsInf(f, 0) {
		return "", fmt.Errorf("%q is not a number; expected %s", v, wantNumeric)
	}
	if strings.ContainsAny(s, "eE") {
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	}
	s = strings.TrimPrefix(s, "+")
	switch {
	case strings.HasPrefix(s, "."):
		s = "0" + s
	case strings.HasPrefix(s, "-."):
		s = "-0" + s[1:]
	}
	return strings.TrimSuffix(s, "."), nil
}

// normEmail does a light check of an email address: the API is the judge of
// the rest.
func normEmail(v string) (string, error) {
	s := strings.TrimSpace(v)
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.Count(s, "@") != 1 || strings.ContainsAny(s, " \t\r\n,;") {
		return "", fmt.Errorf("%q is not an email address; expected %s", v, wantEmail)
	}
	return s, nil
}

// normList splits a comma-separated list (ASCII or full-width commas), checks
// each item and joins them with ",".
func normList(v string, item func(string) (string, error)) (string, error) {
	var out []string
	for tok := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ',' || r == '，' }) {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		t, err := item(tok)
		if err != nil {
			return "", err
		}
		out = append(out, t)
	}
	return strings.Join(out, ","), nil
}

func normID(v string) (int64, error) {
	n, ok := parsePositive(v)
	if !ok {
		return 0, fmt.Errorf("%q is not an id; expected %s", v, wantID)
	}
	return n, nil
}

// normCustom turns a user-written custom field value into what an endpoint
// takes. Select fields become indexes (create) or labels (update, labels
// true); chained fields and text pass through unchanged.
func normCustom(f *udesk.Field, sel *selectIndex, v, mode string, labels bool) (string, error) {
	var (
		out string
		err error
	)
	switch f.ContentType {
	case udesk.TypeDate:
		out, err = normDate(v)
	case udesk.TypeTime:
		out, err = normTime(v)
	case udesk.TypeDatetime:
		out, err = normDatetime(v)
	case udesk.TypeLink:
		out, err = normLink(v)
	case udesk.TypeNumber:
		out, err = normNumber(v)
	case udesk.TypeNumeric:
		out, err = normNumeric(v)
	case udesk.TypeDroplist, udesk.TypeRadio, udesk.TypeCheckbox:
		return sel.toWire(v, mode, labels) // its errors name the field
	default: // text, area_text, chained_droplist and types this code does not know
		return v, nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", fieldDesc(f), err)
	}
	return out, nil
}
