package icetest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// The older RPC signature (signature version 1.0), which the aliyun CLI and
// the classic SDK (github.com/aliyun/alibaba-cloud-sdk-go, CommonRequest)
// still send. Every parameter travels in the query or in a form body:
// Action, Version, Format, AccessKeyId, SignatureMethod=HMAC-SHA1,
// SignatureVersion=1.0, SignatureNonce, Timestamp (UTC,
// yyyy-MM-ddTHH:mm:ssZ), optional SecurityToken, and Signature.
//
//	StringToSign = METHOD + "&" + percentEncode("/") + "&" + percentEncode(canonicalized)
//	Signature    = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))
//
// where canonicalized is every parameter but Signature, sorted by name and
// percent-encoded (RFC 3986: space is %20, * is %2A, ~ stays). See
// https://help.aliyun.com/en/document_detail/130769.html ("Signature
// mechanism") and the classic SDK's sdk/auth/rpc_signature_composer.go.

// RPCSignatureMethod is the only RPC signature method the fake accepts.
const RPCSignatureMethod = "HMAC-SHA1"

// percentEncode is POP's RFC 3986 encoding.
func percentEncode(s string) string {
	return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(url.QueryEscape(s))
}

// RPCStringToSign builds the RPC string to sign from the HTTP method and
// every request parameter (query and form); Signature is left out.
func RPCStringToSign(method string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = percentEncode(k) + "=" + percentEncode(params.Get(k))
	}
	return method + "&" + percentEncode("/") + "&" + percentEncode(strings.Join(parts, "&"))
}

// SignRPC returns the Base64 HMAC-SHA1 RPC signature of stringToSign.
func SignRPC(secret, stringToSign string) string {
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func missing(name string) *apiError {
	return fail(400, "MissingParameter", "The input parameter %q that is mandatory for processing this request is not supplied.", name)
}

// authenticateRPC verifies an RPC-signed request. Codes and messages are the
// POP gateway's: a wrong signature echoes the server's string to sign (the
// classic SDK compares it with its own to tell a wrong secret from a
// signing bug), an absent Timestamp is IllegalTimestamp.
func (s *Server) authenticateRPC(r *http.Request, params url.Values, now time.Time) (string, *accessKey, *apiError) {
	if m := params.Get("SignatureMethod"); m != RPCSignatureMethod {
		return "", nil, fail(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards (SignatureMethod %q; want %s).", m, RPCSignatureMethod)
	}
	if v := params.Get("SignatureVersion"); v != "1.0" {
		return "", nil, fail(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards (SignatureVersion %q; want 1.0).", v)
	}
	sig := params.Get("Signature")
	if sig == "" {
		return "", nil, missing("Signature")
	}
	id := params.Get("AccessKeyId")
	if id == "" {
		return "", nil, missing("AccessKeyId")
	}
	k, apiErr := s.lookupKey(id)
	if apiErr != nil {
		return "", nil, apiErr
	}

	sts := RPCStringToSign(r.Method, params)
	if !hmac.Equal([]byte(SignRPC(k.secret, sts)), []byte(sig)) {
		// The real gateway echoes the string to sign verbatim; the fake
		// blanks a SecurityToken in it, since this text ends up in logs.
		echo := sts
		if tok := params.Get("SecurityToken"); tok != "" {
			echo = strings.ReplaceAll(echo, percentEncode(percentEncode(tok)), "[redacted]")
		}
		return "", nil, fail(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. server string to sign is:%s", echo)
	}
	if params.Get("Timestamp") == "" {
		return "", nil, fail(400, "IllegalTimestamp", "The input parameter \"Timestamp\" that is mandatory for processing this request is not supplied.")
	}
	if params.Get("SignatureNonce") == "" {
		return "", nil, missing("SignatureNonce")
	}
	if e := s.checkDateNonce(id, params.Get("Timestamp"), params.Get("SignatureNonce"), now); e != nil {
		return "", nil, e
	}
	if e := checkToken(&k, params.Get("SecurityToken"), now); e != nil {
		return "", nil, e
	}
	return id, &k, nil
}
