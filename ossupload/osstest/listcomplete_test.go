package osstest_test

import (
	"testing"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/reupload/reupload/ossupload/osstest"
)

// TestListPartsMaxPartsOver1000: OSS documents max-parts with "默认值：1,000
// 最大值：1,000" (https://help.aliyun.com/document_detail/31998.htm) and no
// error for more, so a larger value is served as 1000, the way S3 caps it.
func TestListPartsMaxPartsOver1000(t *testing.T) {
	s := newServer(t, osstest.Options{})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	imur := initiate(t, b, "k")
	lr, err := b.ListUploadedParts(imur, oss.MaxParts(5000))
	if err != nil {
		t.Fatal(err)
	}
	if lr.MaxParts != 1000 {
		t.Fatalf("MaxParts = %d, want 1000", lr.MaxParts)
	}
	_, err = b.ListUploadedParts(imur, oss.MaxParts(0))
	wantCode(t, err, 400, "InvalidArgument")
}

// TestCompleteWithNoParts: an empty <CompleteMultipartUpload/> makes an empty
// object. Both Alibaba SDKs send one against OSS: v1's UploadFile of an
// empty file (SplitFileByPartSize gives no chunk, then Complete) and v2's
// Uploader on an empty stream of unknown size ("No need to upload empty
// part", then Complete). S3 refuses it with MalformedXML; OSS is not S3 here.
func TestCompleteWithNoParts(t *testing.T) {
	s := newServer(t, osstest.Options{})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	imur := initiate(t, b, "k")
	if _, err := b.CompleteMultipartUpload(imur, nil); err != nil {
		t.Fatal(err)
	}
	info, ok := s.Object(bucketName, "k")
	if !ok || info.Size != 0 {
		t.Fatalf("Object() = %+v, %v", info, ok)
	}
}
