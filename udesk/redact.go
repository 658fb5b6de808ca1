package udesk

import (
	"net/url"
	"regexp"
	"strings"
)

// A sign is a credential: md5(secret) alone (the sign of a request without
// query) is accepted by the API for any create or update. Servers and proxies
// echo requests back (a redirect's Location, an error page), raw or
// percent-encoded once or twice, so every string that leaves the client is
// scrubbed twice over: of the exact sign values the client computed, in each
// encoding, and of any sign parameter's value.

// signParamRE matches a sign parameter, raw or percent-encoded once or twice.
var signParamRE = regexp.MustCompile(`(?i)(sign(?:=|%3D|%253D))[^&\s"'<>:;,()%]*`)

func redactSign(s string) string {
	return signParamRE.ReplaceAllString(s, "${1}REDACTED")
}

// redactor scrubs known sign values and sign parameters from text. A nil
// *redactor scrubs sign parameters only.
type redactor struct {
	values *regexp.Regexp // the sign values in every encoding, any case
}

func newRedactor(values ...string) *redactor {
	var alts []string
	seen := map[string]bool{}
	for _, v := range values {
		once := url.QueryEscape(v)
		for _, enc := range []string{v, once, url.QueryEscape(once), url.PathEscape(v)} {
			if enc != "" && !seen[enc] {
				seen[enc] = true
				alts = append(alts, regexp.QuoteMeta(enc))
			}
		}
	}
	r := &redactor{}
	if len(alts) > 0 {
		r.values = regexp.MustCompile("(?i)" + strings.Join(alts, "|"))
	}
	return r
}

func (r *redactor) scrub(s string) string {
	if r != nil && r.values != nil {
		s = r.values.ReplaceAllString(s, "REDACTED")
	}
	return redactSign(s)
}

// shownURL is a server-supplied URL (a redirect's Location) reduced to what
// is safe and useful to show: scheme, host and path, without sign parameters
// (the caller scrubs sign values).
func shownURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "an unreadable URL"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return redactSign(u.String())
}
