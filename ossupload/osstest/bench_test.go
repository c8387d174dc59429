package osstest_test

import (
	"bytes"
	"sync/atomic"
	"testing"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/reupload/reupload/ossupload/osstest"
)

// BenchmarkUploadPart measures the fake's UploadPart path end to end through
// the SDK (whose own CRC-64 is part of the cost), 8 MiB parts, in parallel.
func BenchmarkUploadPart(b *testing.B) {
	for _, tc := range []struct {
		name    string
		storage func(testing.TB) osstest.Storage
	}{
		{"memory", func(testing.TB) osstest.Storage { return osstest.NewMemoryStorage() }},
		{"discard", func(testing.TB) osstest.Storage { return osstest.NewDiscardStorage() }},
		{"dir", func(t testing.TB) osstest.Storage {
			st, err := osstest.NewDirStorage(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const size = 8 << 20
			s := newServer(b, osstest.Options{Storage: tc.storage(b)})
			bk := bucket(b, s, rootAK, rootSK, v4Opts()...)
			imur := initiate(b, bk, "bench")
			data := randomBytes(size, 1)
			var n atomic.Int64
			b.SetBytes(size)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					// Cycling part numbers replaces parts, so memory stays bounded.
					num := int(n.Add(1)%64) + 1
					if _, err := bk.UploadPart(imur, bytes.NewReader(data), size, num); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkUploadPartNoClientCRC leaves out the SDK's CRC, to show the
// server's own share.
func BenchmarkUploadPartNoClientCRC(b *testing.B) {
	const size = 8 << 20
	s := newServer(b, osstest.Options{Storage: osstest.NewDiscardStorage()})
	bk := bucket(b, s, rootAK, rootSK, append(v4Opts(), oss.EnableCRC(false))...)
	imur := initiate(b, bk, "bench")
	data := randomBytes(size, 1)
	b.SetBytes(size)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := bk.UploadPart(imur, bytes.NewReader(data), size, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
