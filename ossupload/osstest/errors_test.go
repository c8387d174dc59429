package osstest_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/reupload/reupload/ossupload/osstest"
)

func put(b *oss.Bucket, key string, opts ...oss.Option) error {
	return b.PutObject(key, strings.NewReader("data"), opts...)
}

func TestAuthErrors(t *testing.T) {
	clk := &clock{}
	s := newServer(t, osstest.Options{Now: clk.Now})
	s.CreateBucket("other")
	ak, sk, tok, _ := s.IssueToken(bucketName, "k", 10*time.Minute)

	tests := []struct {
		name   string
		b      *oss.Bucket
		key    string
		status int
		code   string
	}{
		{"wrong secret V1", bucket(t, s, rootAK, "wrong"), "k", 403, "SignatureDoesNotMatch"},
		{"wrong secret V4", bucket(t, s, rootAK, "wrong", v4Opts()...), "k", 403, "SignatureDoesNotMatch"},
		{"wrong STS secret", bucket(t, s, ak, "wrong", append(v4Opts(), oss.SecurityToken(tok))...), "k", 403, "SignatureDoesNotMatch"},
		{"unknown key", bucket(t, s, "nobody", "x", v4Opts()...), "k", 403, "InvalidAccessKeyId"},
		{"token on a root key", bucket(t, s, rootAK, rootSK, append(v4Opts(), oss.SecurityToken(tok))...), "k", 403, "InvalidAccessKeyId"},
		{"STS key without token", bucket(t, s, ak, sk, v4Opts()...), "k", 403, "InvalidSecurityToken"},
		{"STS key, wrong token", bucket(t, s, ak, sk, append(v4Opts(), oss.SecurityToken(tok+"x"))...), "k", 403, "InvalidSecurityToken"},
		{"token on another object", bucket(t, s, ak, sk, append(v4Opts(), oss.SecurityToken(tok))...), "other-key", 403, "AccessDenied"},
		{"empty V4 region", bucket(t, s, rootAK, rootSK, oss.AuthVersion(oss.AuthV4)), "k", 400, "InvalidArgument"},
		{"wrong V4 region", bucket(t, s, rootAK, rootSK, oss.AuthVersion(oss.AuthV4), oss.Region("cn-hangzhou")), "k", 400, "InvalidArgument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, put(tc.b, tc.key), tc.status, tc.code)
		})
	}

	t.Run("token on another bucket", func(t *testing.T) {
		c, err := oss.New(s.URL(), ak, sk, append(v4Opts(), oss.SecurityToken(tok))...)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := c.Bucket("other")
		wantCode(t, put(other, "k"), 403, "AccessDenied")
	})
	t.Run("missing bucket", func(t *testing.T) {
		c, _ := oss.New(s.URL(), rootAK, rootSK, v4Opts()...)
		nb, _ := c.Bucket("no-such-bucket")
		wantCode(t, put(nb, "k"), 404, "NoSuchBucket")
	})
	t.Run("anonymous", func(t *testing.T) {
		resp, err := http.Get(s.URL() + "/bkt/k")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !bytes.Contains(body, []byte("<Code>AccessDenied</Code>")) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})

	sts := bucket(t, s, ak, sk, append(v4Opts(), oss.SecurityToken(tok))...)
	if err := put(sts, "k"); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	t.Run("skewed clock", func(t *testing.T) {
		clk.Advance(16 * time.Minute)
		defer clk.Advance(-16 * time.Minute)
		wantCode(t, put(bucket(t, s, rootAK, rootSK, v4Opts()...), "k"), 403, "RequestTimeTooSkewed")
		wantCode(t, put(bucket(t, s, rootAK, rootSK), "k"), 403, "RequestTimeTooSkewed")
	})
	t.Run("skewed clock, behind", func(t *testing.T) {
		clk.Advance(-16 * time.Minute)
		defer clk.Advance(16 * time.Minute)
		wantCode(t, put(bucket(t, s, rootAK, rootSK, v4Opts()...), "k"), 403, "RequestTimeTooSkewed")
	})
	t.Run("expired token", func(t *testing.T) {
		clk.Advance(11 * time.Minute)
		defer clk.Advance(-11 * time.Minute)
		se := wantCode(t, put(sts, "k"), 403, "SecurityTokenExpired")
		if se.Message != "The security token you provided has expired." || se.Ec != "0002-00000007" {
			t.Fatalf("message %q, EC %q", se.Message, se.Ec)
		}
	})
	t.Run("ExpireTokens", func(t *testing.T) {
		s.ExpireTokens()
		wantCode(t, put(sts, "k"), 403, "SecurityTokenExpired")
		if err := put(stsBucket(t, s, "k", time.Hour), "k"); err != nil {
			t.Fatalf("a token issued after ExpireTokens: %v", err)
		}
	})
}

func TestOperationErrors(t *testing.T) {
	s := newServer(t, osstest.Options{})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	const wrongMD5 = "1B2M2Y8AsgTpgAmY7PhCfg==" // MD5 of ""

	t.Run("InvalidDigest PutObject", func(t *testing.T) {
		wantCode(t, put(b, "k", oss.ContentMD5(wrongMD5)), 400, "InvalidDigest")
		if _, ok := s.Object(bucketName, "k"); ok {
			t.Fatal("object stored despite a bad Content-MD5")
		}
	})
	imur := initiate(t, b, "mp")
	t.Run("InvalidDigest UploadPart", func(t *testing.T) {
		_, err := b.UploadPart(imur, strings.NewReader("abc"), 3, 1, oss.ContentMD5(wrongMD5))
		wantCode(t, err, 400, "InvalidDigest")
		if ups := s.Uploads(bucketName); ups[0].Parts != 0 {
			t.Fatalf("part kept: %+v", ups)
		}
	})
	t.Run("good Content-MD5", func(t *testing.T) {
		if _, err := b.UploadPart(imur, strings.NewReader(""), 0, 9, oss.ContentMD5(wrongMD5)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("EnableMD5", func(t *testing.T) {
		c, _ := oss.New(s.URL(), rootAK, rootSK, append(v4Opts(), oss.EnableMD5(true))...)
		mb, _ := c.Bucket(bucketName)
		if err := put(mb, "md5"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("part number", func(t *testing.T) {
		for _, n := range []int{0, 10001} {
			_, err := b.UploadPart(imur, strings.NewReader("abc"), 3, n)
			se := wantCode(t, err, 400, "InvalidArgument")
			if se.Message != "Part number must be an integer between 1 and 10000, inclusive." {
				t.Fatalf("message %q", se.Message)
			}
		}
	})

	small1, err := b.UploadPart(imur, strings.NewReader("tiny"), 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	small2, err := b.UploadPart(imur, strings.NewReader("tail"), 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("EntityTooSmall", func(t *testing.T) {
		_, err := b.CompleteMultipartUpload(imur, []oss.UploadPart{small1, small2})
		wantCode(t, err, 400, "EntityTooSmall")
	})
	t.Run("InvalidPart wrong ETag", func(t *testing.T) {
		_, err := b.CompleteMultipartUpload(imur, []oss.UploadPart{{PartNumber: 2, ETag: `"00000000000000000000000000000000"`}})
		wantCode(t, err, 400, "InvalidPart")
	})
	t.Run("InvalidPart missing part", func(t *testing.T) {
		_, err := b.CompleteMultipartUpload(imur, []oss.UploadPart{{PartNumber: 3, ETag: small1.ETag}})
		wantCode(t, err, 400, "InvalidPart")
	})
	// The SDK sorts parts, so these bodies go through Bucket.Do.
	complete := func(body string) error {
		_, err := b.Do("POST", "mp", map[string]interface{}{"uploadId": imur.UploadID}, nil, strings.NewReader(body), nil)
		return err
	}
	t.Run("InvalidPartOrder", func(t *testing.T) {
		body := "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>" + small2.ETag + "</ETag></Part>" +
			"<Part><PartNumber>1</PartNumber><ETag>" + small1.ETag + "</ETag></Part></CompleteMultipartUpload>"
		wantCode(t, complete(body), 400, "InvalidPartOrder")
	})
	t.Run("MalformedXML", func(t *testing.T) {
		wantCode(t, complete("<CompleteMultipartUpload><Part>"), 400, "MalformedXML")
	})
	t.Run("NoSuchUpload", func(t *testing.T) {
		bogus := oss.InitiateMultipartUploadResult{Bucket: bucketName, Key: "mp", UploadID: "0123456789ABCDEF0123456789ABCDEF"}
		_, err := b.CompleteMultipartUpload(bogus, []oss.UploadPart{small1})
		wantCode(t, err, 404, "NoSuchUpload")
		_, err = b.UploadPart(bogus, strings.NewReader("x"), 1, 1)
		wantCode(t, err, 404, "NoSuchUpload")
		// An upload ID belongs to its key.
		_, err = b.UploadPart(oss.InitiateMultipartUploadResult{Bucket: bucketName, Key: "other", UploadID: imur.UploadID}, strings.NewReader("x"), 1, 1)
		wantCode(t, err, 404, "NoSuchUpload")
	})
	t.Run("last part may be small", func(t *testing.T) {
		if _, err := b.CompleteMultipartUpload(imur, []oss.UploadPart{small2}); err != nil {
			t.Fatal(err)
		}
		if got := mustRead(t, s, "mp"); string(got) != "tail" {
			t.Fatalf("content %q", got)
		}
	})

	t.Run("FileAlreadyExists", func(t *testing.T) {
		wantCode(t, put(b, "mp", oss.ForbidOverWrite(true)), 409, "FileAlreadyExists")
		_, err := b.InitiateMultipartUpload("mp", oss.ForbidOverWrite(true))
		wantCode(t, err, 409, "FileAlreadyExists")
		up, err := b.InitiateMultipartUpload("mp")
		if err != nil {
			t.Fatal(err)
		}
		p, err := b.UploadPart(up, strings.NewReader("again"), 5, 1)
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.CompleteMultipartUpload(up, []oss.UploadPart{p}, oss.ForbidOverWrite(true))
		wantCode(t, err, 409, "FileAlreadyExists")
		if len(s.Uploads(bucketName)) != 1 {
			t.Fatal("a refused Complete must keep the upload")
		}
		if err := put(b, "fresh", oss.ForbidOverWrite(true)); err != nil {
			t.Fatalf("forbid-overwrite on a new key: %v", err)
		}
	})
	t.Run("NoSuchKey", func(t *testing.T) {
		_, err := b.GetObject("missing")
		wantCode(t, err, 404, "NoSuchKey")
		_, err = b.GetObjectDetailedMeta("missing") // HEAD: the error comes in x-oss-err
		se := wantCode(t, err, 404, "NoSuchKey")
		if se.Ec != "0026-00000001" || se.Message != "The specified key does not exist." {
			t.Fatalf("HEAD error %+v", se)
		}
	})
	t.Run("NotImplemented", func(t *testing.T) {
		_, err := b.ListObjects()
		wantCode(t, err, 501, "NotImplemented")
	})
}

var requestIDPattern = regexp.MustCompile(`^[0-9A-F]{24}$`)

// The error body is byte-for-byte OSS's layout.
func TestErrorXMLLayout(t *testing.T) {
	s := newServer(t, osstest.Options{})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	bogus := oss.InitiateMultipartUploadResult{Bucket: bucketName, Key: "k", UploadID: "NOPE"}
	_, err := b.ListUploadedParts(bogus)
	se := wantCode(t, err, 404, "NoSuchUpload")
	if !requestIDPattern.MatchString(se.RequestID) {
		t.Fatalf("request ID %q", se.RequestID)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>NoSuchUpload</Code>
  <Message>The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.</Message>
  <RequestId>` + se.RequestID + `</RequestId>
  <HostId>bkt.oss-cn-shanghai.aliyuncs.com</HostId>
  <UploadId>NOPE</UploadId>
  <EC>0042-00000002</EC>
  <RecommendDoc>https://api.aliyun.com/troubleshoot?q=0042-00000002</RecommendDoc>
</Error>
`
	if se.RawMessage != want {
		t.Fatalf("error body\n%s\nwant\n%s", se.RawMessage, want)
	}

	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, s.URL()+"/bkt/missing", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !requestIDPattern.MatchString(resp.Header.Get("x-oss-request-id")) ||
			resp.Header.Get("Content-Type") != "application/xml" || resp.Header.Get("x-oss-ec") != "0003-00000001" {
			t.Fatalf("%s headers: %v", method, resp.Header)
		}
		if method == "HEAD" {
			x, err := base64.StdEncoding.DecodeString(resp.Header.Get("x-oss-err"))
			if err != nil || !bytes.Contains(x, []byte("<Code>AccessDenied</Code>")) {
				t.Fatalf("x-oss-err %q: %v", x, err)
			}
		} else if !bytes.HasPrefix(body, []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error>\n  <Code>AccessDenied</Code>\n")) {
			t.Fatalf("body %s", body)
		}
	}
}

func TestRequestIDsOnSuccess(t *testing.T) {
	s := newServer(t, osstest.Options{})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	seen := map[string]bool{}
	for range 50 {
		if err := put(b, "k"); err != nil {
			t.Fatal(err)
		}
		h, err := b.GetObjectDetailedMeta("k")
		if err != nil {
			t.Fatal(err)
		}
		id := h.Get("x-oss-request-id")
		if !requestIDPattern.MatchString(id) || seen[id] {
			t.Fatalf("request ID %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}

// An auth error arrives before a large body is read; the SDK must still get
// the OSS error (the uploader refreshes its token on SecurityTokenExpired).
func TestEarlyErrorOnLargePartBody(t *testing.T) {
	s := newServer(t, osstest.Options{})
	b := stsBucket(t, s, "k", time.Hour)
	imur := initiate(t, b, "k")
	s.ExpireTokens()
	data := make([]byte, 16<<20)
	for range 5 {
		_, err := b.UploadPart(imur, bytes.NewReader(data), int64(len(data)), 1)
		wantCode(t, err, 403, "SecurityTokenExpired")
	}
}
