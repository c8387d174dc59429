// Command peers plays the bench's SDK v2 contender: the Uploader of
// github.com/aliyun/alibabacloud-oss-go-sdk-v2, with its own checkpoint. It
// lives in a module of its own so that the SDK v2 stays out of reupload's
// go.mod; `go run ./bench` builds it to bench/out/peers and runs it as a
// child, with the same flags and the same one-line JSON report as the
// bench's own children (bench/internal/proto).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"

	"github.com/reupload/reupload/bench/internal/proto"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var a proto.Args
	a.Register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if a.Role != "sdkv2" {
		fmt.Fprintf(stderr, "peers: unknown role %q\n", a.Role)
		return 2
	}
	return proto.Run(a, stdout, stderr, upload)
}

// upload runs the Uploader with the part size and parallelism given, or the
// SDK's defaults (5 MiB parts, 3 in flight) when they are 0. The checkpoint
// is always on, as the SDK v1 contender's is, so a rerun resumes.
func upload(ctx context.Context, a proto.Args) (proto.Report, error) {
	t, err := proto.FetchToken(ctx, a.Issuer, a.Key, a.TTL)
	if err != nil {
		return proto.Report{}, err
	}
	cfg := oss.LoadDefaultConfig().
		WithCredentialsProvider(credentials.NewStaticCredentialsProvider(t.AccessKeyID, t.AccessKeySecret, t.SecurityToken)).
		WithRegion(proto.Region).
		WithEndpoint(a.Endpoint).
		WithUsePathStyle(true)
	client := oss.NewClient(cfg)
	dir := a.StateDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-sdkv2-cp-"); err != nil {
			return proto.Report{}, err
		}
		defer os.RemoveAll(dir)
	}
	u := client.NewUploader(func(o *oss.UploaderOptions) {
		if a.PartSize > 0 {
			o.PartSize = a.PartSize
		}
		if a.Jobs > 0 {
			o.ParallelNum = a.Jobs
		}
		o.EnableCheckpoint = true
		o.CheckpointDir = dir
	})
	start := time.Now()
	_, err = u.UploadFile(ctx, &oss.PutObjectRequest{Bucket: oss.Ptr(a.Bucket), Key: oss.Ptr(a.Key)}, a.File)
	return proto.Report{Seconds: time.Since(start).Seconds()}, err
}
