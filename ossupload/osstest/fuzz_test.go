package osstest

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// FuzzParseFault checks the OSS --fault grammar on arbitrary specs: it never
// panics, every error is one line naming the spec, and every accepted fault
// is one the server can carry out. Seeds live in testdata/fuzz/FuzzParseFault.
func FuzzParseFault(f *testing.F) {
	for _, s := range []string{
		"UploadPart:nth=3:500:InternalError", "UploadPart:every=5:reset",
		"ListParts:frac=0.1:503:ServiceUnavailable", "CompleteMultipartUpload:nth=1:stall=2s",
		"UploadPart:times=2:403:SecurityTokenExpired", "UploadPart:nth=2:badcrc",
		"*:seed=7:frac=1:code=NoSuchUpload", "UploadPart:nth=1:every=2:500", "UploadPart:reset:500", "nonsense", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ft, err := ParseFault(spec)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "osstest: fault ") || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error is not one line starting with the grammar's name: %q", msg)
			}
			return
		}
		if _, ok := opByName(ft.Op); !ok && ft.Op != "*" {
			t.Fatalf("accepted %q with unknown op %q", spec, ft.Op)
		}
		if ft.Nth < 0 || ft.Every < 0 || ft.Times < 0 || ft.Stall < 0 || ft.Fraction < 0 || ft.Fraction > 1 {
			t.Fatalf("accepted %q with out-of-range numbers: %+v", spec, ft)
		}
		if ft.Status != 0 && (ft.Status < 100 || ft.Status > 599) {
			t.Fatalf("accepted %q with status %d", spec, ft.Status)
		}
		if ft.Code != "" && !isCodeWord(ft.Code) {
			t.Fatalf("accepted %q with code %q", spec, ft.Code)
		}
		if !ft.Reset && !ft.BadCRC && ft.Stall == 0 && ft.Status == 0 && ft.Code == "" {
			t.Fatalf("accepted %q, a fault that does nothing: %+v", spec, ft)
		}
		if ft.Reset && (ft.Status != 0 || ft.Code != "" || ft.BadCRC) {
			t.Fatalf("accepted %q, a reset that also answers: %+v", spec, ft)
		}
	})
}

// fuzzSign says how FuzzServeHTTP signs a request (the fuzzer picks it).
const (
	signNone = iota // no Authorization (or whatever the fuzzed headers hold)
	signRoot        // V1 with the account key: full access
	signSTS         // V1 with an STS key scoped to bkt/obj, token attached
	signKinds
)

// FuzzServeHTTP feeds arbitrary method, path, query, headers and body
// through ServeHTTP, unsigned or correctly signed (V1, by the account key or
// an STS key scoped to one object), against a server holding two objects
// and one multipart upload (its id replaces UPLOADID in the query). The
// server must never panic, must always answer a final status with an
// x-oss-request-id, must send an OSS error document (same request id, a
// code) with every error, must never echo a secret, and must change nothing
// for an unsigned request nor anything outside bkt/obj for the STS key.
func FuzzServeHTTP(f *testing.F) {
	type seed struct {
		method, path, query, headers string
		body                         []byte
		sign                         uint8
	}
	for _, s := range []seed{
		{"GET", "/bkt/obj", "", "", nil, signRoot},
		{"HEAD", "/bkt/obj", "", "Range: bytes=0-9", nil, signSTS},
		{"PUT", "/bkt/obj", "", "Content-Type: video/mp4\nx-oss-forbid-overwrite: true", []byte("new body"), signSTS},
		{"PUT", "/bkt/obj", "partNumber=2&uploadId=UPLOADID", "Content-MD5: AAAAAAAAAAAAAAAAAAAAAA==", bytes.Repeat([]byte("p"), 300), signSTS},
		{"POST", "/bkt/obj", "uploadId=UPLOADID", "Content-Type: application/xml",
			[]byte("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"x\"</ETag></Part></CompleteMultipartUpload>"), signSTS},
		{"POST", "/bkt/obj", "uploadId=UPLOADID", "",
			[]byte("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"E510683B3F5FFE4093D021808BC6FF70\"</ETag></Part></CompleteMultipartUpload>"), signSTS},
		{"PUT", "/bkt/obj", "partNumber=2&uploadId=UPLOADID", "", []byte("part two"), signSTS},
		{"PUT", "/bkt/obj", "", "x-oss-meta-a: b", []byte("overwritten"), signSTS},
		{"POST", "/bkt/obj", "uploads", "x-oss-object-acl: private", nil, signRoot},
		{"GET", "/bkt/obj", "uploadId=UPLOADID&max-parts=1&part-number-marker=0", "", nil, signSTS},
		{"DELETE", "/bkt/obj", "uploadId=UPLOADID", "", nil, signNone},
		{"GET", "/bkt/", "uploads&prefix=o", "", nil, signRoot},
		{"PUT", "/obj", "", "Host: bkt.localhost", []byte("virtual"), signRoot},
		{"GET", "/bkt/obj2", "", "Authorization: OSS4-HMAC-SHA256 Credential=a/b/c/d/aliyun_v4_request,Signature=x", nil, signNone},
		{"BREW", "/", "%zz", "Date: yesterday", []byte{0, 1, 2}, signRoot},
	} {
		f.Add(s.method, s.path, s.query, s.headers, s.body, s.sign)
	}
	f.Fuzz(func(t *testing.T, method, path, query, headers string, body []byte, sign uint8) {
		s := newServer(Options{})
		s.CreateBucket("bkt")
		s.AddAccessKey("LTAIROOT", "root-secret-0123456789")
		stsID, stsSecret, stsToken, _ := s.IssueToken("bkt", "obj", time.Hour)
		old, other := []byte("old object"), []byte("another object")
		if err := s.PutObjectData("bkt", "obj", old); err != nil {
			t.Fatal(err)
		}
		if err := s.PutObjectData("bkt", "obj2", other); err != nil {
			t.Fatal(err)
		}
		keys := map[uint8][3]string{signRoot: {"LTAIROOT", "root-secret-0123456789", ""}, signSTS: {stsID, stsSecret, stsToken}}
		do := func(method, path, query string, h http.Header, body []byte, sign uint8) *httptest.ResponseRecorder {
			r := &http.Request{
				Method: method, URL: &url.URL{Path: path, RawQuery: query}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: h, Host: "127.0.0.1", RemoteAddr: "127.0.0.1:1234",
				Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
			}
			if host := h.Get("Host"); host != "" {
				r.Host = host
				h.Del("Host")
			}
			r.RequestURI = r.URL.RequestURI()
			if k, ok := keys[sign%signKinds]; ok {
				if h.Get("Date") == "" {
					h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
				}
				if k[2] != "" {
					h.Set("x-oss-security-token", k[2])
				}
				rq := &request{s: s, r: r}
				rq.route()
				h.Set("Authorization", "OSS "+k[0]+":"+v1Sign(k[1], v1StringToSign(r, rq.bucket, rq.key, rq.query)))
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			return w
		}
		// The upload the fuzzed request may name.
		init := do("POST", "/bkt/obj", "uploads", http.Header{}, nil, signSTS)
		m := regexp.MustCompile(`<UploadId>([^<]+)</UploadId>`).FindSubmatch(init.Body.Bytes())
		if init.Code != 200 || m == nil {
			t.Fatalf("initiate: %d %s", init.Code, init.Body)
		}
		if w := do("PUT", "/bkt/obj", "partNumber=1&uploadId="+string(m[1]), http.Header{}, bytes.Repeat([]byte("a"), 128), signSTS); w.Code != 200 {
			t.Fatalf("upload part: %d %s", w.Code, w.Body)
		}
		uploads := len(s.Uploads("bkt"))

		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		w := do(method, path, strings.ReplaceAll(query, "UPLOADID", string(m[1])), fuzzHeader(headers), body, sign)

		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
		id := w.Header().Get("x-oss-request-id")
		if id == "" {
			t.Fatalf("status %d without x-oss-request-id", w.Code)
		}
		if w.Code >= 400 {
			doc := w.Body.Bytes()
			if method == http.MethodHead {
				var err error
				if doc, err = base64.StdEncoding.DecodeString(w.Header().Get("x-oss-err")); err != nil {
					t.Fatalf("HEAD error %d with x-oss-err %q", w.Code, w.Header().Get("x-oss-err"))
				}
			}
			var e struct {
				XMLName   xml.Name `xml:"Error"`
				Code      string
				RequestId string
			}
			if err := xml.Unmarshal(doc, &e); err != nil || e.Code == "" || e.RequestId != id {
				t.Fatalf("error %d: body %q is not an OSS error for request %s (%v)", w.Code, doc, id, err)
			}
		}
		answer := w.Body.String() + strings.Join(flatten(w.Header()), "\n")
		for _, secret := range []string{"root-secret-0123456789", stsSecret, stsToken} {
			if strings.Contains(answer, secret) {
				t.Fatalf("the answer (status %d) echoes a secret", w.Code)
			}
		}
		if got, _ := s.ReadObject("bkt", "obj2"); !bytes.Equal(got, other) && sign%signKinds != signRoot {
			t.Fatalf("bkt/obj2 changed by a request signed %d: %q", sign%signKinds, got)
		}
		if sign%signKinds == signNone {
			if got, _ := s.ReadObject("bkt", "obj"); !bytes.Equal(got, old) {
				t.Fatalf("an unsigned request (status %d) changed bkt/obj to %q", w.Code, got)
			}
			if n := len(s.Uploads("bkt")); n != uploads {
				t.Fatalf("an unsigned request (status %d) changed the uploads from %d to %d", w.Code, uploads, n)
			}
		}
	})
}

// fuzzHeader reads "Name: value" lines, keeping only what net/http itself
// would pass to a handler (valid names, no control characters in values).
func fuzzHeader(s string) http.Header {
	h := http.Header{}
	for line := range strings.SplitSeq(s, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validHeaderName(name) || strings.ContainsFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			continue
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(name), strings.TrimSpace(value))
	}
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	return h
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func flatten(h http.Header) []string {
	var out []string
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, k+": "+v)
		}
	}
	return out
}
