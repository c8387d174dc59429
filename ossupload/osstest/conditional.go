package osstest

import (
	"net/http"
	"strings"
	"time"
)

// Conditional GetObject and HeadObject. OSS answers a failed If-Match or
// If-Unmodified-Since with 412 PreconditionFailed and a failed If-None-Match
// or If-Modified-Since with 304 Not Modified, and lets the pairs be combined
// (https://www.alibabacloud.com/help/en/oss/developer-reference/conditional-download-1;
// EC 0017-00001001 for the 412). Combinations are evaluated in RFC 7232
// section 6 order, as S3 does too: a true If-Match makes If-Unmodified-Since
// irrelevant, and a false If-None-Match (the ETag matches) answers 304
// whatever If-Modified-Since says, while a true one skips it.

// notModified asks the handler for a bodiless 304.
type notModified struct{}

func (notModified) Error() string { return "not modified" }

// checkConditions returns nil to serve the object, notModified{} for 304, or
// a PreconditionFailed error.
func checkConditions(h http.Header, a ObjectAttrs) error {
	modified := a.LastModified.UTC().Truncate(time.Second) // HTTP dates have whole seconds
	if v := h.Get("If-Match"); v != "" {
		if !etagListMatch(a.ETag, v) {
			return preconditionFailed("If-Match")
		}
	} else if t, ok := httpTime(h.Get("If-Unmodified-Since")); ok && modified.After(t) {
		return preconditionFailed("If-Unmodified-Since")
	}
	if v := h.Get("If-None-Match"); v != "" {
		if etagListMatch(a.ETag, v) {
			return notModified{}
		}
	} else if t, ok := httpTime(h.Get("If-Modified-Since")); ok && !modified.After(t) {
		return notModified{}
	}
	return nil
}

func preconditionFailed(header string) *ossError {
	return newError("PreconditionFailed").with("Condition", header)
}

// httpTime parses a conditional header's date; a malformed one is ignored,
// as RFC 7232 asks.
func httpTime(v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(v)
	return t, err == nil
}

// etagListMatch reports whether etag is in a comma-separated list of
// (quoted or bare) ETags, or the list is "*".
func etagListMatch(etag, list string) bool {
	for v := range strings.SplitSeq(list, ",") {
		if v = strings.TrimSpace(v); v == "*" || etagMatch(etag, strings.TrimPrefix(v, "W/")) {
			return true
		}
	}
	return false
}

// respondNotModified sends 304 with the validators and no body.
func (rq *request) respondNotModified(a ObjectAttrs) {
	h := rq.w.Header()
	h.Set("ETag", a.ETag)
	h.Set("Last-Modified", a.LastModified.UTC().Format(http.TimeFormat))
	rq.respond(http.StatusNotModified)
}
