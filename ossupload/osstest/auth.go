package osstest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// credential is an access key known to the server: a root key (sts == nil)
// or an STS key limited to one object until it expires.
type credential struct {
	secret string
	sts    *stsGrant
}

type stsGrant struct {
	token   string
	policy  TokenPolicy
	expires time.Time
	revoked bool // set by ExpireTokens
}

// TokenPolicy is what an STS token may do, in the terms of a RAM policy:
// the actions it allows on one bucket and on the objects Object names.
type TokenPolicy struct {
	Bucket string
	// Object is one key, or a prefix followed by "*" ("dir/*", or "*" for
	// every object in Bucket).
	Object string
	// Actions are RAM action names: oss:PutObject (PutObject and the
	// multipart upload steps), oss:GetObject (GetObject, HeadObject,
	// GetObjectMeta), oss:DeleteObject, oss:ListParts,
	// oss:AbortMultipartUpload, oss:ListMultipartUploads (bucket level), or
	// oss:*. Nil allows every object-level operation on Object and nothing
	// at bucket level, which is what IssueToken grants.
	Actions []string
}

// ramAction is the RAM action an operation needs, as the OSS API pages list
// under "Permissions" (https://help.aliyun.com/en/oss/developer-reference/listparts:
// ListParts needs oss:ListParts; the multipart upload steps need
// oss:PutObject).
var ramAction = [numOps]string{
	opInitiate:      "oss:PutObject",
	opUploadPart:    "oss:PutObject",
	opComplete:      "oss:PutObject",
	opPutObject:     "oss:PutObject",
	opAbort:         "oss:AbortMultipartUpload",
	opListParts:     "oss:ListParts",
	opListUploads:   "oss:ListMultipartUploads",
	opGetObject:     "oss:GetObject",
	opHeadObject:    "oss:GetObject",
	opGetObjectMeta: "oss:GetObject",
	opDeleteObject:  "oss:DeleteObject",
}

// allows reports whether the policy lets o touch bucket/key (key "" for a
// bucket-level operation).
func (p *TokenPolicy) allows(o op, bucket, key string) bool {
	if bucket != p.Bucket {
		return false
	}
	if p.Actions == nil {
		return key != "" && p.objectMatches(key)
	}
	action := ramAction[o]
	if action == "" || !slices.ContainsFunc(p.Actions, func(a string) bool { return a == action || a == "oss:*" }) {
		return false
	}
	return key == "" || p.objectMatches(key)
}

func (p *TokenPolicy) objectMatches(key string) bool {
	if prefix, ok := strings.CutSuffix(p.Object, "*"); ok {
		return strings.HasPrefix(key, prefix)
	}
	return key == p.Object
}

// AddAccessKey adds a root (account) key: full access to every bucket.
func (s *Server) AddAccessKey(id, secret string) {
	s.mu.Lock()
	s.creds[id] = &credential{secret: secret}
	s.mu.Unlock()
}

// IssueToken mints an STS credential valid for ttl, scoped to exactly one
// object: any request it signs for another bucket/key gets 403 AccessDenied,
// and so do bucket-level requests such as ListMultipartUploads.
func (s *Server) IssueToken(bucket, object string, ttl time.Duration) (accessKeyID, accessKeySecret, securityToken string, expires time.Time) {
	return s.IssueTokenPolicy(TokenPolicy{Bucket: bucket, Object: object}, ttl)
}

// IssueTokenPolicy mints an STS credential valid for ttl that may do what p
// allows; anything else it signs gets 403 AccessDenied.
func (s *Server) IssueTokenPolicy(p TokenPolicy, ttl time.Duration) (accessKeyID, accessKeySecret, securityToken string, expires time.Time) {
	accessKeyID = "STS." + randomString(25)
	accessKeySecret = randomString(44)
	securityToken = "CAIS" + randomString(300)
	expires = s.now().Add(ttl)
	p.Actions = slices.Clone(p.Actions)
	s.mu.Lock()
	s.creds[accessKeyID] = &credential{secret: accessKeySecret, sts: &stsGrant{
		token: securityToken, policy: p, expires: expires,
	}}
	s.mu.Unlock()
	return accessKeyID, accessKeySecret, securityToken, expires
}

// ExpireTokens makes every STS token issued so far expired; tokens issued
// later are not affected.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	for _, c := range s.creds {
		if c.sts != nil {
			c.sts.revoked = true
		}
	}
	s.mu.Unlock()
}

func randomString(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// authRequest is a parsed Authorization header.
type authRequest struct {
	v4         bool
	accessKey  string
	signature  string
	date       string   // V4 scope date, yyyymmdd
	region     string   // V4 scope region
	product    string   // V4 scope product
	additional []string // V4 AdditionalHeaders, lower-case

	token     string    // security token: x-oss-security-token, or the URL's for a presigned one
	presigned bool      // signed in the query string (a presigned URL), not in Authorization
	signDate  string    // the signed time text: Date/x-oss-date, or a V4 URL's x-oss-date
	signTime  time.Time // signDate parsed
	expires   time.Time // a presigned URL's end
}

func parseAuthorization(h string) (authRequest, bool) {
	if rest, ok := strings.CutPrefix(h, "OSS "); ok {
		i := strings.LastIndexByte(rest, ':')
		if i <= 0 || i == len(rest)-1 {
			return authRequest{}, false
		}
		return authRequest{accessKey: rest[:i], signature: rest[i+1:]}, true
	}
	rest, ok := strings.CutPrefix(h, "OSS4-HMAC-SHA256 ")
	if !ok {
		return authRequest{}, false
	}
	a := authRequest{v4: true}
	var haveCred bool
	for field := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return authRequest{}, false
		}
		switch k {
		case "Credential":
			parts := strings.Split(v, "/")
			if len(parts) != 5 || parts[0] == "" || parts[4] != "aliyun_v4_request" {
				return authRequest{}, false
			}
			a.accessKey, a.date, a.region, a.product = parts[0], parts[1], parts[2], parts[3]
			haveCred = true
		case "AdditionalHeaders":
			if v == "" { // OSS rejects a present-but-empty list (EC 0002-00000209)
				return authRequest{}, false
			}
			for name := range strings.SplitSeq(v, ";") {
				a.additional = append(a.additional, strings.ToLower(name))
			}
		case "Signature":
			a.signature = v
		default:
			return authRequest{}, false
		}
	}
	return a, haveCred && a.signature != ""
}

// authenticate checks the request's signature and credentials, in the order
// OSS does: the key, then the STS token, then the clock (or, for a presigned
// URL, its expiry), then the signature, and last whether the key may touch
// this object.
func (rq *request) authenticate() error {
	s, r := rq.s, rq.r
	var a authRequest
	switch h := r.Header.Get("Authorization"); {
	case h != "":
		var ok bool
		if a, ok = parseAuthorization(h); !ok {
			return newErrorMsg("InvalidArgument", "Authorization header is invalid.").with("ArgumentName", "Authorization")
		}
		a.token = r.Header.Get("x-oss-security-token")
	case isPresigned(rq.query):
		var err error
		if a, err = parsePresigned(rq.query); err != nil {
			return err
		}
	default:
		return newError("AccessDenied")
	}
	if !a.v4 && s.rejectV1 {
		return newErrorMsg("AccessDenied", "The V1 signature is not supported for this bucket; sign requests with OSS4-HMAC-SHA256.")
	}
	s.mu.RLock()
	cred := s.creds[a.accessKey]
	var grant stsGrant
	if cred != nil && cred.sts != nil {
		grant = *cred.sts
	}
	s.mu.RUnlock()
	if cred == nil {
		return newError("InvalidAccessKeyId").with("OSSAccessKeyId", a.accessKey)
	}
	if cred.sts == nil {
		if a.token != "" {
			return newErrorMsg("InvalidAccessKeyId", "The security token is not allowed with this access key.").with("OSSAccessKeyId", a.accessKey)
		}
	} else {
		if !hmac.Equal([]byte(a.token), []byte(grant.token)) {
			return newError("InvalidSecurityToken")
		}
		if grant.revoked || !s.now().Before(grant.expires) {
			return newError("SecurityTokenExpired")
		}
	}

	if a.presigned {
		if err := rq.checkExpiry(a); err != nil {
			return err
		}
	} else {
		var err error
		if a.signTime, a.signDate, err = requestTime(r, a.v4); err != nil {
			return err
		}
		if skew := s.now().Sub(a.signTime); skew > maxSkew || skew < -maxSkew {
			return newError("RequestTimeTooSkewed").
				with("RequestTime", a.signDate).
				with("ServerTime", isoTime(s.now()))
		}
	}

	if a.v4 {
		if err := s.verifyV4(rq, a, cred.secret); err != nil {
			return err
		}
	} else {
		dateSlot := v1DateSlot(r.Header)
		if a.presigned {
			dateSlot = rq.query.Get("Expires")
		}
		sts := v1StringToSignAt(r, dateSlot, rq.bucket, rq.key, rq.query)
		want := v1Sign(cred.secret, sts)
		if !hmac.Equal([]byte(want), []byte(a.signature)) {
			return newError("SignatureDoesNotMatch").
				with("StringToSign", sts).
				with("SignatureProvided", a.signature).
				with("OSSAccessKeyId", a.accessKey)
		}
	}

	if cred.sts != nil && !grant.policy.allows(rq.op, rq.bucket, rq.key) {
		return newErrorMsg("AccessDenied", "You are denied by the STS policy: the token does not allow "+rq.op.String()+" on this resource.")
	}
	return nil
}

// requestTime is the signing time of a header-signed request and the text
// that is signed for it. x-oss-date wins over Date when both are present:
// browsers cannot set Date, so ali-oss sends only x-oss-date, and OSS accepts
// either ("add the Date header or the x-oss-date header",
// https://help.aliyun.com/en/oss/user-guide/0002-00000503). V4 wants
// x-oss-date in ISO 8601 basic form; the V1 x-oss-date ali-oss sends is
// RFC 1123 like Date (https://help.aliyun.com/en/oss/user-guide/0002-00000502).
// SDK v3.0.2 sends only Date, also for V4.
func requestTime(r *http.Request, v4 bool) (time.Time, string, error) {
	if d := r.Header.Get("x-oss-date"); d != "" {
		t, err := time.Parse("20060102T150405Z", d)
		if err != nil && !v4 {
			t, err = http.ParseTime(d)
		}
		if err != nil {
			return time.Time{}, "", newErrorMsg("AccessDenied", "The x-oss-date header is not in a valid format.").withEC("0002-00000502")
		}
		return t, d, nil
	}
	d := r.Header.Get("Date")
	if d == "" {
		return time.Time{}, "", newErrorMsg("AccessDenied", "OSS authentication requires a valid Date.").withEC("0002-00000503")
	}
	t, err := http.ParseTime(d)
	if err != nil {
		return time.Time{}, "", newErrorMsg("AccessDenied", "The Date header is not in a valid format.").withEC("0002-00000502")
	}
	return t, d, nil
}

// v1DateSlot is what V1 signs on its Date line: the Date header, or, when a
// client (ali-oss) sends only x-oss-date, that header's value.
func v1DateSlot(h http.Header) string {
	if d := h.Get("Date"); d != "" {
		return d
	}
	return h.Get("x-oss-date")
}

func (s *Server) verifyV4(rq *request, a authRequest, secret string) error {
	switch {
	case a.region == "":
		return newErrorMsg("InvalidArgument", "Invalid signing region in Authorization header: the region is empty.").
			with("ArgumentName", "Authorization")
	case a.region != s.region:
		return newErrorMsg("InvalidArgument", "Invalid signing region in Authorization header: got "+a.region+", expected "+s.region+".").
			with("ArgumentName", "Authorization")
	case a.product != "oss":
		return newErrorMsg("InvalidArgument", "Invalid signing product in Authorization header: "+a.product+".").
			with("ArgumentName", "Authorization")
	case a.date != a.signTime.UTC().Format("20060102"):
		return newErrorMsg("InvalidArgument", "Invalid credential date: it is not the day of the request time.").
			with("ArgumentName", "Authorization")
	}
	q := rq.query
	if a.presigned {
		// Every query parameter is signed but the signature itself.
		q = maps.Clone(q)
		delete(q, "x-oss-signature")
	} else if err := checkContentSHA256(rq.r.Header); err != nil {
		return err
	}
	canonical := v4CanonicalRequest(rq.r, rq.bucket, rq.key, q, a.additional)
	sts := v4StringToSign(a.signDate, a.date, a.region, canonical)
	want := v4Sign(secret, a.date, a.region, sts)
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		e := newError("SignatureDoesNotMatch").
			with("StringToSign", sts).
			with("SignatureProvided", a.signature).
			with("CanonicalRequest", canonical).
			with("OSSAccessKeyId", a.accessKey)
		e.ec = "0002-00000201"
		return e
	}
	return nil
}

// signKeyList is the SDK's list of sub-resources that V1 signs (oss/conn.go).
var signKeyList = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range []string{"acl", "uploads", "location", "cors",
		"logging", "website", "referer", "lifecycle",
		"delete", "append", "tagging", "objectMeta",
		"uploadId", "partNumber", "security-token",
		"position", "img", "style", "styleName",
		"replication", "replicationProgress",
		"replicationLocation", "cname", "bucketInfo",
		"comp", "qos", "live", "status", "vod",
		"startTime", "endTime", "symlink",
		"x-oss-process", "response-content-type", "x-oss-traffic-limit",
		"response-content-language", "response-expires",
		"response-cache-control", "response-content-disposition",
		"response-content-encoding", "udf", "udfName", "udfImage",
		"udfId", "udfImageDesc", "udfApplication", "comp",
		"udfApplicationLog", "restore", "callback", "callback-var", "qosInfo",
		"policy", "stat", "encryption", "versions", "versioning", "versionId", "requestPayment",
		"x-oss-request-payer", "sequential",
		"inventory", "inventoryId", "continuation-token", "asyncFetch",
		"worm", "wormId", "wormExtend", "withHashContext",
		"x-oss-enable-md5", "x-oss-enable-sha1", "x-oss-enable-sha256",
		"x-oss-hash-ctx", "x-oss-md5-ctx", "transferAcceleration",
		"regionList", "cloudboxes", "x-oss-ac-source-ip", "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id", "x-oss-ac-forward-allow",
		"metaQuery", "resourceGroup", "rtc", "x-oss-async-process", "responseHeader",
	} {
		m[k] = true
	}
	return m
}()

// headerPairs returns "name:value" lines, names lower-cased and sorted bytewise
// by name, for the headers keep selects; V4 trims spaces from values.
func headerPairs(h http.Header, keep func(lower string) bool, trim bool) string {
	type kv struct{ k, v string }
	var pairs []kv
	for name, vals := range h {
		lk := strings.ToLower(name)
		if !keep(lk) || len(vals) == 0 {
			continue
		}
		v := vals[0]
		if trim {
			v = strings.Trim(v, " ")
		}
		pairs = append(pairs, kv{lk, v})
	}
	slices.SortFunc(pairs, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	var b strings.Builder
	for _, p := range pairs {
		b.WriteString(p.k)
		b.WriteByte(':')
		b.WriteString(p.v)
		b.WriteByte('\n')
	}
	return b.String()
}

// v1StringToSign builds the V1 string to sign of a header-signed request
// exactly as the SDK does (oss/auth.go getSignedStr): raw key, only
// signKeyList sub-resources.
func v1StringToSign(r *http.Request, bucket, key string, q url.Values) string {
	return v1StringToSignAt(r, v1DateSlot(r.Header), bucket, key, q)
}

// v1StringToSignAt is v1StringToSign with dateSlot on the Date line: a
// presigned URL signs its Expires there.
func v1StringToSignAt(r *http.Request, dateSlot, bucket, key string, q url.Values) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(r.Header.Get("Content-MD5"))
	b.WriteByte('\n')
	b.WriteString(r.Header.Get("Content-Type"))
	b.WriteByte('\n')
	b.WriteString(dateSlot)
	b.WriteByte('\n')
	b.WriteString(headerPairs(r.Header, func(lk string) bool { return strings.HasPrefix(lk, "x-oss-") }, false))
	b.WriteByte('/')
	if bucket != "" {
		b.WriteString(bucket)
		b.WriteByte('/')
		b.WriteString(key)
	}
	var keys []string
	for k := range q {
		if signKeyList[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(k)
		if v := q.Get(k); v != "" {
			b.WriteByte('=')
			b.WriteString(v)
		}
	}
	return b.String()
}

func v1Sign(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// v4Escape is the SDK's key encoding for the V4 canonical URI.
func v4Escape(s string) string {
	s = strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
	return strings.ReplaceAll(s, "%2F", "/")
}

// v4CanonicalRequest builds the canonical request as the SDK does
// (oss/auth.go getSignedStrV4): the bucket is always in the URI, every query
// parameter is signed, and host is signed only when listed in AdditionalHeaders.
func v4CanonicalRequest(r *http.Request, bucket, key string, q url.Values, additional []string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	switch {
	case bucket == "":
		b.WriteByte('/')
	case key == "":
		b.WriteString("/" + bucket + "/")
	default:
		b.WriteString("/" + bucket + "/" + v4Escape(key))
	}
	b.WriteByte('\n')
	type kv struct{ k, v string }
	pairs := make([]kv, 0, len(q))
	for k, vs := range q {
		v := ""
		if len(vs) > 0 {
			v = strings.ReplaceAll(url.QueryEscape(vs[0]), "+", "%20")
		}
		pairs = append(pairs, kv{url.QueryEscape(k), v})
	}
	slices.SortFunc(pairs, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		if p.v != "" {
			b.WriteByte('=')
			b.WriteString(p.v)
		}
	}
	b.WriteByte('\n')
	hdr := r.Header
	if slices.Contains(additional, "host") && r.Host != "" && hdr.Get("Host") == "" {
		// net/http moves Host out of the header map on the server side.
		hdr = hdr.Clone()
		hdr.Set("Host", r.Host)
	}
	b.WriteString(headerPairs(hdr, func(lk string) bool {
		return lk == "content-type" || lk == "content-md5" || strings.HasPrefix(lk, "x-oss-") || slices.Contains(additional, lk)
	}, true))
	b.WriteByte('\n')
	b.WriteString(strings.Join(additional, ";"))
	b.WriteByte('\n')
	payload := r.Header.Get("x-oss-content-sha256")
	if payload == "" {
		payload = "UNSIGNED-PAYLOAD"
	}
	b.WriteString(payload)
	return b.String()
}

func v4StringToSign(signDate, day, region, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return "OSS4-HMAC-SHA256\n" + signDate + "\n" + day + "/" + region + "/oss/aliyun_v4_request\n" + hex.EncodeToString(sum[:])
}

func v4Sign(secret, day, region, stringToSign string) string {
	mac := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	k := mac([]byte("aliyun_v4"+secret), day)
	k = mac(k, region)
	k = mac(k, "oss")
	k = mac(k, "aliyun_v4_request")
	return hex.EncodeToString(mac(k, stringToSign))
}
