package osstest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Presigned URLs carry the signature in the query string instead of the
// Authorization header:
//
//	V1: ?OSSAccessKeyId=AK&Expires=UNIX&Signature=SIG[&security-token=TOK]
//	    signed like a header-signed V1 request with Expires on the Date line.
//	V4: ?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=AK/DAY/REGION/oss/aliyun_v4_request
//	    &x-oss-date=ISO&x-oss-expires=SECONDS[&x-oss-additional-headers=…][&x-oss-security-token=TOK]
//	    &x-oss-signature=SIG, signed like a V4 request over every other query
//	    parameter, with payload UNSIGNED-PAYLOAD.
//
// A URL is served until it expires, then answered 403 AccessDenied "Request
// has expired." with EC 0002-00000069
// (https://help.aliyun.com/en/oss/user-guide/0002-00000069); V1's Expires is
// an absolute Unix time, V4's x-oss-expires a number of seconds (1 to
// 604800) after x-oss-date (https://help.aliyun.com/en/oss/user-guide/0002-00000232).
// An STS token in a URL is scoped exactly as in a header. The EC values of
// missing or malformed query parameters are from the EC pages where one
// exists (0002-00000067/68/70, 0002-00000219, 0002-00000232); 0002-00000063,
// -065, -101 and -222 are unconfirmed.

const v4MaxExpires = 604800 // seconds, 7 days

// isPresigned reports whether the query string carries a signature.
func isPresigned(q url.Values) bool {
	for _, k := range []string{"OSSAccessKeyId", "Signature", "x-oss-signature-version", "x-oss-signature", "x-oss-credential"} {
		if _, ok := q[k]; ok {
			return true
		}
	}
	return false
}

// parsePresigned reads a V1 or V4 presigned URL's query string. Its expiry
// is checked later, by checkExpiry, after the key and token.
func parsePresigned(q url.Values) (authRequest, error) {
	if v := q.Get("x-oss-signature-version"); v != "" || q.Has("x-oss-credential") {
		if v != "OSS4-HMAC-SHA256" {
			return authRequest{}, newErrorMsg("InvalidArgument", "Unsupported signature version: "+v+".").
				with("ArgumentName", "x-oss-signature-version").withEC("0002-00000101")
		}
		return parsePresignedV4(q)
	}
	a := authRequest{presigned: true, accessKey: q.Get("OSSAccessKeyId"), signature: q.Get("Signature"), token: q.Get("security-token")}
	switch {
	case a.accessKey == "":
		return authRequest{}, newErrorMsg("AccessDenied", "OSSAccessKeyId is missing in the request.").withEC("0002-00000063")
	case a.signature == "":
		return authRequest{}, newErrorMsg("AccessDenied", "Signature is missing in the request.").withEC("0002-00000065")
	case !q.Has("Expires"):
		return authRequest{}, newErrorMsg("AccessDenied", "Expires is missing in the request.").withEC("0002-00000067")
	case q.Get("Expires") == "":
		return authRequest{}, newErrorMsg("AccessDenied", "Expires is empty in the request.").withEC("0002-00000068")
	}
	sec, err := strconv.ParseInt(q.Get("Expires"), 10, 64)
	if err != nil {
		return authRequest{}, newErrorMsg("AccessDenied", "Expires is invalid in the request.").withEC("0002-00000070")
	}
	a.expires = time.Unix(sec, 0)
	return a, nil
}

func parsePresignedV4(q url.Values) (authRequest, error) {
	a := authRequest{v4: true, presigned: true, signature: q.Get("x-oss-signature"), token: q.Get("x-oss-security-token")}
	parts := strings.Split(q.Get("x-oss-credential"), "/")
	if len(parts) != 5 || parts[0] == "" || parts[4] != "aliyun_v4_request" {
		return authRequest{}, newErrorMsg("InvalidArgument", "x-oss-credential is invalid.").
			with("ArgumentName", "x-oss-credential").withEC("0002-00000222")
	}
	a.accessKey, a.date, a.region, a.product = parts[0], parts[1], parts[2], parts[3]
	if a.signature == "" {
		return authRequest{}, newErrorMsg("AccessDenied", "x-oss-signature is missing in the request.").withEC("0002-00000219")
	}
	if v, ok := q["x-oss-additional-headers"]; ok {
		if len(v) == 0 || v[0] == "" {
			return authRequest{}, newErrorMsg("InvalidArgument", "x-oss-additional-headers is empty.").
				with("ArgumentName", "x-oss-additional-headers").withEC("0002-00000209")
		}
		for name := range strings.SplitSeq(v[0], ";") {
			a.additional = append(a.additional, strings.ToLower(name))
		}
	}
	a.signDate = q.Get("x-oss-date")
	t, err := time.Parse("20060102T150405Z", a.signDate)
	if err != nil {
		return authRequest{}, newErrorMsg("AccessDenied", "x-oss-date is not in a valid format.").withEC("0002-00000502")
	}
	a.signTime = t
	sec, err := strconv.ParseInt(q.Get("x-oss-expires"), 10, 64)
	if err != nil || sec < 1 || sec > v4MaxExpires {
		return authRequest{}, newErrorMsg("InvalidArgument", "x-oss-expires must be between 1 and 604800 seconds.").
			with("ArgumentName", "x-oss-expires").withEC("0002-00000232")
	}
	a.expires = t.Add(time.Duration(sec) * time.Second)
	return a, nil
}

// checkExpiry answers a presigned URL that has expired on the server's clock.
func (rq *request) checkExpiry(a authRequest) error {
	now := rq.s.now()
	if now.Before(a.expires) || now.Equal(a.expires) {
		return nil
	}
	return newErrorMsg("AccessDenied", "Request has expired.").
		with("Expires", isoTime(a.expires)).
		with("ServerTime", isoTime(now)).
		withEC("0002-00000069")
}

// checkContentSHA256 enforces V4's payload header: OSS requires
// x-oss-content-sha256 on header-signed V4 requests and accepts only
// UNSIGNED-PAYLOAD (https://help.aliyun.com/en/oss/user-guide/0002-00000214:
// "Set the x-oss-content-sha256 header to UNSIGNED-PAYLOAD"), so a hex SHA-256
// of the body, which S3 would take, is refused.
func checkContentSHA256(h http.Header) error {
	switch v := h.Get("x-oss-content-sha256"); v {
	case "UNSIGNED-PAYLOAD":
		return nil
	case "":
		return newErrorMsg("InvalidArgument", "Missing required header for this request: x-oss-content-sha256.").
			with("ArgumentName", "x-oss-content-sha256").withEC("0002-00000213")
	default:
		return newErrorMsg("InvalidArgument", "Invalid x-oss-content-sha256 header value: only UNSIGNED-PAYLOAD is supported.").
			with("ArgumentName", "x-oss-content-sha256").with("ArgumentValue", v).withEC("0002-00000214")
	}
}

// PresignGetURL returns a V1 presigned GET URL for bucket/key on this server,
// valid until expires on the server's clock. It is signed with an access key
// the server registered for itself, with full access; the key is never shown.
func (s *Server) PresignGetURL(bucket, key string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	sig := v1Sign(s.selfSecret, "GET\n\n\n"+exp+"\n/"+bucket+"/"+key)
	q := url.Values{"OSSAccessKeyId": {s.selfKey}, "Expires": {exp}, "Signature": {sig}}
	u := url.URL{Path: "/" + bucket + "/" + key, RawQuery: q.Encode()}
	return s.url + u.String()
}
