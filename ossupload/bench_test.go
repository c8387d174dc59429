package ossupload_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/reupload/reupload/internal/crc64x"
	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/ossupload/osstest"
)

// The benchmarks run against osstest with discard storage on loopback, so
// they measure the client and the fake server together; compare them with
// benchstat between commits, not with a network. go run ./bench compares the
// engine with the SDK's UploadFile in separate processes.

const benchBucket = "bench"

func benchServer(b *testing.B) *osstest.Server {
	b.Helper()
	srv, err := osstest.NewServer(osstest.Options{Storage: osstest.NewDiscardStorage()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	srv.CreateBucket(benchBucket)
	return srv
}

// benchGrant issues an STS token scoped to key that outlives the benchmark.
func benchGrant(srv *osstest.Server, key string) ossupload.Grant {
	ak, sk, tok, exp := srv.IssueToken(benchBucket, key, time.Hour)
	return ossupload.Grant{
		Target:      ossupload.Target{Endpoint: srv.URL(), Bucket: benchBucket, Key: key, Region: "cn-shanghai"},
		Credentials: ossupload.Credentials{AccessKeyID: ak, AccessKeySecret: sk, SecurityToken: tok, Expires: exp},
	}
}

func benchData(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>11)
	}
	return p
}

// BenchmarkUploadPart sends one 8 MiB UploadPart per iteration through the
// engine's SDK adapter (NewOSSAPI), into one multipart upload.
func BenchmarkUploadPart(b *testing.B) {
	srv := benchServer(b)
	g := benchGrant(srv, "part.bin")
	api, err := ossupload.NewOSSAPI(g.Target, ossupload.StaticCredentials(g.Credentials), ossupload.SDKConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	id, err := api.InitiateMultipartUpload(ctx, g.Target.Key)
	if err != nil {
		b.Fatal(err)
	}
	data := benchData(ossupload.DefaultPartSize)
	want := crc64.Checksum(data, crc64.MakeTable(crc64.ECMA))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		out, err := api.UploadPart(ctx, ossupload.PartInput{
			Key: g.Target.Key, UploadID: id, PartNumber: (n-1)%ossupload.MaxParts + 1,
			Size: int64(len(data)), Body: bytes.NewReader(data),
		})
		if err != nil {
			b.Fatal(err)
		}
		if !out.HasCRC || out.CRC64 != want {
			b.Fatalf("part %d: CRC %d (present %v) does not match the data", n, out.CRC64, out.HasCRC)
		}
	}
	b.StopTimer()
	if err := api.AbortMultipartUpload(ctx, g.Target.Key, id); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkUploadSinglePart runs the whole engine (Initiate, one streamed and
// hashed 8 MiB part, Complete, CRC check) per iteration.
func BenchmarkUploadSinglePart(b *testing.B) {
	benchUpload(b, ossupload.DefaultPartSize, 1)
}

// BenchmarkUpload64MiB uploads 64 MiB in 8 MiB parts, four at a time.
func BenchmarkUpload64MiB(b *testing.B) {
	benchUpload(b, 64<<20, 4)
}

func benchUpload(b *testing.B, size, jobs int) {
	srv := benchServer(b)
	data := benchData(size)
	ctx := context.Background()
	want := crc64.Checksum(data, crc64.MakeTable(crc64.ECMA))
	b.SetBytes(int64(size))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		key := "obj-" + strconv.Itoa(n)
		auth := ossupload.AuthorizerFunc(func(context.Context) (ossupload.Grant, error) { return benchGrant(srv, key), nil })
		res, err := ossupload.Upload(ctx, auth, ossupload.Source{R: bytes.NewReader(data), Size: int64(size)},
			ossupload.Options{PartSize: ossupload.DefaultPartSize, Concurrency: jobs})
		if err != nil {
			b.Fatal(err)
		}
		if res.CRC64 != want || res.Parts != (size+ossupload.DefaultPartSize-1)/ossupload.DefaultPartSize {
			b.Fatalf("upload %d: CRC %d in %d parts, want %d", n, res.CRC64, res.Parts, want)
		}
	}
}

// BenchmarkCRC64 compares the engine's hash (internal/crc64x) with
// hash/crc64 (ECMA table: CRC-64/XZ, what OSS reports) and the SDK's
// oss.NewCRC, at the 32 KiB writes the HTTP transport makes through a part
// body and at 1 MiB writes.
func BenchmarkCRC64(b *testing.B) {
	tab := crc64.MakeTable(crc64.ECMA)
	for _, size := range []int{32 << 10, 1 << 20} {
		data := benchData(size)
		name := strconv.Itoa(size>>10) + "KiB"
		b.Run("crc64x.New/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			h := crc64x.New()
			for b.Loop() {
				h.Write(data)
			}
			sink = h.Sum64()
		})
		b.Run("crc64.Update/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			var c uint64
			for b.Loop() {
				c = crc64.Update(c, tab, data)
			}
			sink = c
		})
		b.Run("crc64.New/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			h := crc64.New(tab)
			for b.Loop() {
				h.Write(data)
			}
			sink = h.Sum64()
		})
		b.Run("oss.NewCRC/"+name, func(b *testing.B) {
			b.SetBytes(int64(size))
			h := oss.NewCRC(tab, 0)
			for b.Loop() {
				h.Write(data)
			}
			sink = h.Sum64()
		})
	}
}

// sink keeps the compiler from discarding the checksums.
var sink uint64

// BenchmarkPartDigest compares what --md5 adds per part (an MD5 pass for
// Content-MD5) with the CRC-64 the engine computes on every part anyway.
func BenchmarkPartDigest(b *testing.B) {
	data := benchData(8 << 20)
	b.Run("crc64x", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			sink = crc64x.Checksum(data)
		}
	})
	b.Run("md5", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			sum := md5.Sum(data)
			sink = binary.LittleEndian.Uint64(sum[:8])
		}
	})
}

// BenchmarkRequestOverhead measures what the client spends on one
// UploadPart besides moving the body: the SDK's signing (V4 with a region,
// V1 without), headers, our adapter, and parsing the answer. The transport
// answers at once without a network, so the server costs nothing.
func BenchmarkRequestOverhead(b *testing.B) {
	body := benchData(1 << 10)
	crc := strconv.FormatUint(crc64.Checksum(body, crc64.MakeTable(crc64.ECMA)), 10)
	for _, v := range []struct{ name, region string }{{"V4", "cn-shanghai"}, {"V1", ""}} {
		b.Run(v.name, func(b *testing.B) {
			api, err := ossupload.NewOSSAPI(ossupload.Target{Endpoint: "http://127.0.0.1:1", Bucket: benchBucket, Key: "k", Region: v.region},
				ossupload.StaticCredentials{AccessKeyID: "STS.id", AccessKeySecret: "secret", SecurityToken: "token"},
				ossupload.SDKConfig{HTTPClient: &http.Client{Transport: answerRT(crc)}})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				out, err := api.UploadPart(ctx, ossupload.PartInput{Key: "k", UploadID: "u", PartNumber: 1, Size: int64(len(body)), Body: bytes.NewReader(body)})
				if err != nil || out.ETag == "" {
					b.Fatal(out, err)
				}
			}
		})
	}
}

// answerRT answers every request 200 with an ETag and the given CRC-64,
// after reading the body and checking that it was signed.
type answerRT string

func (crc answerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	if a := r.Header.Get("Authorization"); a == "" {
		return nil, errors.New("unsigned request")
	}
	h := http.Header{"Etag": {`"0123456789ABCDEF0123456789ABCDEF"`}, "X-Oss-Hash-Crc64ecma": {string(crc)}, "X-Oss-Request-Id": {"bench"}}
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: io.NopCloser(strings.NewReader("")), ContentLength: 0, Request: r}, nil
}
