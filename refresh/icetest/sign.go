package icetest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Algorithm is the only signature algorithm the fake accepts (the SDK default).
const Algorithm = "ACS3-HMAC-SHA256"

// requiredSigned are the headers every ACS3 request must sign.
var requiredSigned = []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"}

// CanonicalRequest rebuilds the ACS3 canonical request from a received
// request, as darabonba-openapi v2.1.13 utils.GetAuthorization builds it on
// the sending side. signed lists the header names in SignedHeaders order;
// hashedPayload is the hex SHA-256 of the body.
func CanonicalRequest(r *http.Request, signed []string, hashedPayload string) string {
	uri := r.URL.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	uri = strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(uri)

	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteString("\n")
	b.WriteString(uri)
	b.WriteString("\n")
	b.WriteString(canonicalQuery(r.URL.Query()))
	b.WriteString("\n")
	for _, name := range signed {
		b.WriteString(name)
		b.WriteString(":")
		b.WriteString(headerValue(r, name))
		b.WriteString("\n")
	}
	b.WriteString("\n")
	b.WriteString(strings.Join(signed, ";"))
	b.WriteString("\n")
	b.WriteString(hashedPayload)
	return b.String()
}

// Sign returns the hex ACS3-HMAC-SHA256 signature of a canonical request.
func Sign(secret, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(Algorithm + "\n" + hex.EncodeToString(sum[:])))
	return hex.EncodeToString(mac.Sum(nil))
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		// The SDK sends one value per key; sign the first, as it would.
		v := q[k][0]
		if v == "" {
			parts = append(parts, k+"=")
			continue
		}
		parts = append(parts, k+"="+url.QueryEscape(v))
	}
	s := strings.Join(parts, "&")
	return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(s)
}

func headerValue(r *http.Request, name string) string {
	if name == "host" {
		return strings.TrimSpace(r.Host) // net/http moves Host out of r.Header
	}
	vals := r.Header.Values(name)
	trimmed := make([]string, len(vals))
	for i, v := range vals {
		trimmed[i] = strings.TrimSpace(v)
	}
	sort.Strings(trimmed)
	return strings.Join(trimmed, ",")
}

func hasHeader(r *http.Request, name string) bool {
	if name == "host" {
		return r.Host != ""
	}
	_, ok := r.Header[http.CanonicalHeaderKey(name)]
	return ok
}

type authorization struct {
	accessKeyID string
	signed      []string
	signature   string
}

func parseAuthorization(h string) (authorization, bool) {
	rest, ok := strings.CutPrefix(h, Algorithm+" ")
	if !ok {
		return authorization{}, false
	}
	var a authorization
	var haveCred, haveSigned, haveSig bool
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return authorization{}, false
		}
		switch k {
		case "Credential":
			a.accessKeyID, haveCred = v, v != ""
		case "SignedHeaders":
			a.signed, haveSigned = strings.Split(v, ";"), v != ""
		case "Signature":
			a.signature, haveSig = v, v != ""
		default:
			return authorization{}, false
		}
	}
	return a, haveCred && haveSigned && haveSig
}

// authenticate verifies the ACS3 signature and the caller's credentials. It
// returns the caller's AccessKey id and record.
func (s *Server) authenticate(r *http.Request, body []byte, now time.Time) (string, *accessKey, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", nil, fail(400, "MissingParameter", "The input parameter \"Authorization\" that is mandatory for processing this request is not supplied.")
	}
	a, ok := parseAuthorization(h)
	if !ok {
		return "", nil, fail(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards (expected %s Credential=...,SignedHeaders=...,Signature=...).", Algorithm)
	}

	k, apiErr := s.lookupKey(a.accessKeyID)
	if apiErr != nil {
		return "", nil, apiErr
	}

	signedSet := map[string]bool{}
	for i, name := range a.signed {
		if name != strings.ToLower(name) || (i > 0 && a.signed[i-1] >= name) {
			return "", nil, fail(400, "IncompleteSignature", "SignedHeaders must be lower-case, sorted and unique.")
		}
		if !hasHeader(r, name) {
			return "", nil, fail(400, "IncompleteSignature", "The signed header %q is not in the request.", name)
		}
		signedSet[name] = true
	}
	for _, name := range requiredSigned {
		if !signedSet[name] {
			return "", nil, fail(400, "IncompleteSignature", "The header %q must be present and signed.", name)
		}
	}
	for name := range r.Header {
		lower := strings.ToLower(name)
		if (strings.HasPrefix(lower, "x-acs-") || lower == "content-type") && !signedSet[lower] {
			return "", nil, fail(400, "IncompleteSignature", "The header %q must be signed.", lower)
		}
	}

	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	if r.Header.Get("x-acs-content-sha256") != payload {
		return "", nil, fail(400, "SignatureDoesNotMatch", "x-acs-content-sha256 does not match the request body.")
	}
	want := Sign(k.secret, CanonicalRequest(r, a.signed, payload))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return "", nil, fail(400, "SignatureDoesNotMatch", "Specified signature does not match our calculation.")
	}

	if e := s.checkDateNonce(a.accessKeyID, r.Header.Get("x-acs-date"), r.Header.Get("x-acs-signature-nonce"), now); e != nil {
		return "", nil, e
	}

	if e := checkToken(&k, r.Header.Get("x-acs-security-token"), now); e != nil {
		return "", nil, e
	}
	if id := r.Header.Get("x-acs-accesskey-id"); id != "" && id != a.accessKeyID {
		return "", nil, fail(400, "IncompleteSignature", "x-acs-accesskey-id does not match the Credential.")
	}
	return a.accessKeyID, &k, nil
}

// lookupKey returns a copy of a caller key's record.
func (s *Server) lookupKey(id string) (accessKey, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, known := s.keys[id]
	if !known {
		return accessKey{}, fail(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	return *key, nil
}

// checkToken checks the SecurityToken a caller sent against its key: STS
// keys need their own unexpired token, permanent keys none.
func checkToken(k *accessKey, token string, now time.Time) *apiError {
	switch {
	case k.token == "" && token != "":
		return fail(400, "InvalidSecurityToken.Malformed", "Specified SecurityToken is malformed.")
	case k.token != "" && token == "":
		return fail(400, "MissingSecurityToken", "The STS AccessKey requires a SecurityToken.")
	case k.token != "" && !hmac.Equal([]byte(token), []byte(k.token)):
		return fail(400, "InvalidSecurityToken.MismatchWithAccessKey", "Specified SecurityToken mismatch with the AccessKey.")
	case k.token != "" && !now.Before(k.expires):
		return fail(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
	}
	return nil
}

// checkDateNonce applies the gateway's ±Window clock check to date, then
// spends the caller's nonce.
func (s *Server) checkDateNonce(accessKeyID, date, nonce string, now time.Time) *apiError {
	t, err := time.Parse("2006-01-02T15:04:05Z", date)
	if err != nil {
		return fail(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
	}
	if d := now.Sub(t); d > Window || d < -Window {
		return fail(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
	}
	if !s.useNonce(accessKeyID+"/"+nonce, now) {
		return fail(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
	}
	return nil
}

// useNonce records a nonce and reports whether it was fresh. Nonces older
// than Window are forgotten; the queue is in arrival order.
func (s *Server) useNonce(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.nonceQ) > 0 && now.Sub(s.nonceQ[0].at) > Window {
		if s.nonces[s.nonceQ[0].key].Equal(s.nonceQ[0].at) {
			delete(s.nonces, s.nonceQ[0].key)
		}
		s.nonceQ = s.nonceQ[1:]
	}
	if at, used := s.nonces[key]; used && now.Sub(at) <= Window {
		return false
	}
	s.nonces[key] = now
	s.nonceQ = append(s.nonceQ, nonceEntry{key: key, at: now})
	return true
}
