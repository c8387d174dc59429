package ossupload_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc64"
	"log"
	"time"

	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/ossupload/osstest"
)

// Upload replaces an object with a multipart upload. The Authorizer is
// where an STS credential comes from: here the fake OSS mints one scoped
// to the object; reupload asks ICE RefreshUploadMedia. It is called once
// at the start, and again when the credential nears expiry or OSS rejects
// it.
func ExampleUpload() {
	s, err := osstest.NewServer(osstest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	s.CreateBucket("media")

	auth := ossupload.AuthorizerFunc(func(ctx context.Context) (ossupload.Grant, error) {
		id, secret, token, expires := s.IssueToken("media", "sv/clip/source.mp4", time.Hour)
		return ossupload.Grant{
			Target:      ossupload.Target{Endpoint: s.URL(), Bucket: "media", Key: "sv/clip/source.mp4", Region: "cn-shanghai"},
			Credentials: ossupload.Credentials{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: token, Expires: expires},
		}, nil
	})
	data := bytes.Repeat([]byte("frame "), 50_000) // 300,000 bytes
	src := ossupload.Source{R: bytes.NewReader(data), Size: int64(len(data))}
	res, err := ossupload.Upload(context.Background(), auth, src, ossupload.Options{PartSize: ossupload.MinPartSize})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes in %d parts of %d\n", res.Size, res.Parts, res.PartSize)
	fmt.Println("CRC-64 verified:", res.CRC64 == crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)))
	got, _ := s.ReadObject("media", "sv/clip/source.mp4")
	fmt.Println("object holds the source:", bytes.Equal(got, data))
	// Output:
	// 300000 bytes in 3 parts of 102400
	// CRC-64 verified: true
	// object holds the source: true
}
