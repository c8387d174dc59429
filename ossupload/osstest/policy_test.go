package osstest_test

import (
	"io"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/reupload/reupload/ossupload/osstest"
)

// TestTokenPolicy: a token's RAM-style actions decide what it may do, so a
// caller whose key may ListMultipartUploads can be told from one that may not.
func TestTokenPolicy(t *testing.T) {
	s := newServer(t, osstest.Options{})
	policyBucket := func(p osstest.TokenPolicy) *oss.Bucket {
		ak, sk, tok, _ := s.IssueTokenPolicy(p, time.Hour)
		return bucket(t, s, ak, sk, append(v4Opts(), oss.SecurityToken(tok))...)
	}

	uploader := policyBucket(osstest.TokenPolicy{Bucket: bucketName, Object: "dir/*",
		Actions: []string{"oss:PutObject", "oss:ListMultipartUploads"}})
	if err := put(uploader, "dir/a"); err != nil {
		t.Fatalf("PutObject under the prefix: %v", err)
	}
	imur := initiate(t, uploader, "dir/b")
	res, err := uploader.ListMultipartUploads()
	if err != nil || len(res.Uploads) != 1 {
		t.Fatalf("ListMultipartUploads = %+v, %v", res, err)
	}
	_, err = uploader.GetObject("dir/a")
	wantCode(t, err, 403, "AccessDenied") // no oss:GetObject
	_, err = uploader.ListUploadedParts(imur)
	wantCode(t, err, 403, "AccessDenied") // no oss:ListParts
	wantCode(t, uploader.AbortMultipartUpload(imur), 403, "AccessDenied")
	wantCode(t, put(uploader, "elsewhere"), 403, "AccessDenied") // outside the prefix

	// IssueToken's default: every operation on the one object, none on the bucket.
	ak, sk, tok, _ := s.IssueToken(bucketName, "dir/b", time.Hour)
	one := bucket(t, s, ak, sk, append(v4Opts(), oss.SecurityToken(tok))...)
	if _, err := one.ListUploadedParts(imur); err != nil {
		t.Fatalf("ListParts with the default token: %v", err)
	}
	_, err = one.ListMultipartUploads()
	wantCode(t, err, 403, "AccessDenied")
	if err := one.AbortMultipartUpload(imur); err != nil {
		t.Fatal(err)
	}

	all := policyBucket(osstest.TokenPolicy{Bucket: bucketName, Object: "*", Actions: []string{"oss:*"}})
	rc, err := all.GetObject("dir/a")
	if err != nil {
		t.Fatalf("oss:* GetObject: %v", err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	if _, err := all.ListMultipartUploads(); err != nil {
		t.Fatalf("oss:* ListMultipartUploads: %v", err)
	}
}
