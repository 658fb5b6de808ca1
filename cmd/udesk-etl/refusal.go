package main

import (
	"errors"
	"net/http"
	"strings"

	"github.com/udesk-etl/udesk-etl/udesk"
)

// configRefusal reports a refusal that is a configuration error (exit 2)
// rather than a failed run: Udesk does not know the filter, agent or
// customer a run selects, or the object store refuses the credentials or
// does not know the bucket. Running the same command again would fail the
// same way, so nothing is offered to resume.
func configRefusal(err error) bool {
	var ue *udesk.Error
	if errors.As(err, &ue) && ue.Class == udesk.Permanent {
		return ue.Code == udesk.StatusCustomerNotFound ||
			ue.Code == udesk.StatusInvalidParameter && strings.Contains(ue.Path, "/ticket_filters")
	}
	// The S3 client's errors, matched by their methods so that this does
	// not tie the command to one SDK's types.
	var api interface{ ErrorCode() string }
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden",
			"InvalidToken", "ExpiredToken", "NoSuchBucket", "AuthorizationHeaderMalformed":
			return true
		}
	}
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) {
		code := resp.HTTPStatusCode()
		return code == http.StatusUnauthorized || code == http.StatusForbidden
	}
	return false
}
