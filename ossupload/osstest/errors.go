package osstest

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
)

// ossError is an error answer in OSS's wire form. Handlers return it; respondError writes it.
type ossError struct {
	status  int
	code    string
	message string
	ec      string
	extra   [][2]string // elements written between <HostId> and <EC>, in order
}

func (e *ossError) Error() string { return e.code + ": " + e.message }

// with returns e with one more element (e.g. "UploadId") in the error XML.
func (e *ossError) with(name, value string) *ossError {
	e.extra = append(e.extra, [2]string{name, value})
	return e
}

// withEC returns e with a more specific EC than its code's usual one.
func (e *ossError) withEC(ec string) *ossError {
	e.ec = ec
	return e
}

// codeInfo is what OSS sends for a code when nothing more specific is known.
// The messages of SecurityTokenExpired, NoSuchKey, NoSuchUpload, InvalidPart
// and FileAlreadyExists, and the EC values of SecurityTokenExpired, NoSuchKey,
// NoSuchUpload, InvalidPartOrder, EntityTooSmall, FileAlreadyExists and
// RequestTimeTooSkewed, are confirmed from Alibaba Cloud pages or SDK test
// data; the rest follow OSS's style but are unconfirmed.
type codeInfo struct {
	status  int
	message string
	ec      string
}

var codes = map[string]codeInfo{
	"AccessDenied":          {403, "You have no right to access this object because of bucket acl.", "0003-00000001"},
	"InvalidAccessKeyId":    {403, "The OSS Access Key Id you provided does not exist in our records.", "0002-00000002"},
	"InvalidSecurityToken":  {403, "The security token you provided is invalid.", "0002-00000006"},
	"SecurityTokenExpired":  {403, "The security token you provided has expired.", "0002-00000007"},
	"SignatureDoesNotMatch": {403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.", "0002-00000040"},
	"RequestTimeTooSkewed":  {403, "The difference between the request time and the current time is too large.", "0002-00000504"},
	"NoSuchBucket":          {404, "The specified bucket does not exist.", "0015-00000101"},
	"NoSuchKey":             {404, "The specified key does not exist.", "0026-00000001"},
	"NoSuchUpload":          {404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", "0042-00000002"},
	"InvalidArgument":       {400, "Invalid Argument.", "0017-00000000"},
	"InvalidPart":           {400, "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag", "0042-00000210"},
	"InvalidPartOrder":      {400, "The list of parts was not in ascending order. Parts list must specified in order by part number.", "0042-00000209"},
	"EntityTooSmall":        {400, "Your proposed upload is smaller than the minimum allowed size.", "0042-00000213"},
	"EntityTooLarge":        {400, "Your proposed upload exceeds the maximum allowed size.", "0016-00000107"},
	"InvalidDigest":         {400, "The Content-MD5 you specified is not valid.", "0016-00000102"},
	"MalformedXML":          {400, "The XML you provided was not well-formed or did not validate against our published schema.", "0042-00000201"},
	"InvalidObjectName":     {400, "The specified object is not valid.", "0016-00000005"},
	"InvalidRange":          {416, "The requested range cannot be satisfied.", "0026-00000004"},
	"MultiRangeFailed":      {400, "Exceed multi range max interval count.", "0016-00000110"},
	"IncompleteBody":        {400, "You did not provide the number of bytes specified by the Content-Length HTTP header.", "0016-00000001"},
	"MissingContentLength":  {411, "You must provide the Content-Length HTTP header.", "0016-00000101"},
	"FileAlreadyExists":     {409, "The object you specified already exists and can not be overwritten", "0042-00000214"},
	"PreconditionFailed":    {412, "At least one of the pre-conditions you specified did not hold.", "0017-00001001"},
	"MethodNotAllowed":      {405, "The specified method is not allowed against this resource.", "0001-00000405"},
	"NotImplemented":        {501, "A header you provided implies functionality that is not implemented.", "0001-00000501"},
	"InternalError":         {500, "We encountered an internal error. Please try again.", "0007-00000001"},
	"ServiceUnavailable":    {503, "Please reduce your request rate.", "0007-00000503"},
	"RequestTimeout":        {400, "Your socket connection to the server was not read from or written to within the timeout period.", "0016-00000003"},
	"TooManyRequests":       {429, "Please reduce your request rate.", "0007-00000429"},
}

// defaultCodes names the code injected for a bare status in a Fault.
var defaultCodes = map[int]string{
	400: "InvalidArgument", 403: "AccessDenied", 404: "NoSuchKey", 405: "MethodNotAllowed",
	409: "FileAlreadyExists", 411: "MissingContentLength", 416: "InvalidRange", 429: "TooManyRequests",
	500: "InternalError", 501: "NotImplemented", 503: "ServiceUnavailable",
}

// newError builds the error for code, with its usual status, message and EC.
func newError(code string) *ossError {
	info, ok := codes[code]
	if !ok {
		info = codeInfo{500, code, "0000-00000000"}
	}
	return &ossError{status: info.status, code: code, message: info.message, ec: info.ec}
}

// newErrorMsg is newError with a specific message.
func newErrorMsg(code, message string) *ossError {
	e := newError(code)
	e.message = message
	return e
}

// errorXML renders e the way OSS does: an XML declaration, two-space indent, a
// trailing newline, the extra elements after HostId, then EC and RecommendDoc
// (the layout of https://help.aliyun.com/en/oss/user-guide/overview-14).
func errorXML(e *ossError, requestID, hostID string) []byte {
	var b strings.Builder
	b.Grow(256 + len(e.message))
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n")
	elem := func(name, value string) {
		b.WriteString("  <")
		b.WriteString(name)
		b.WriteByte('>')
		xmlEscape(&b, value)
		b.WriteString("</")
		b.WriteString(name)
		b.WriteString(">\n")
	}
	elem("Code", e.code)
	elem("Message", e.message)
	elem("RequestId", requestID)
	elem("HostId", hostID)
	for _, kv := range e.extra {
		elem(kv[0], kv[1])
	}
	elem("EC", e.ec)
	elem("RecommendDoc", "https://api.aliyun.com/troubleshoot?q="+e.ec)
	b.WriteString("</Error>\n")
	return []byte(b.String())
}

func xmlEscape(b *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		case '\t':
			b.WriteString("&#x9;")
		default:
			if r < 0x20 {
				// XML 1.0 cannot carry other control characters at all.
				b.WriteString("\uFFFD")
				continue
			}
			b.WriteRune(r)
		}
	}
}

// respondError writes e. A HEAD answer has no body, so, like OSS, the XML goes
// base64-encoded into x-oss-err, which the SDK decodes.
func (rq *request) respondError(e *ossError) {
	rq.code = e.code
	rq.s.stats.countError(e.code)
	body := errorXML(e, rq.id, rq.hostID())
	h := rq.w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("x-oss-ec", e.ec)
	if rq.r.Method == http.MethodHead {
		h.Set("x-oss-err", base64.StdEncoding.EncodeToString(body))
		h.Set("Content-Length", "0")
		rq.respond(e.status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	rq.respond(e.status)
	rq.w.Write(body)
}
