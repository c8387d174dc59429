//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/reupload/reupload/bench/internal/proto"
	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/refresh"
	"github.com/reupload/reupload/resume"
)

// Roles a child process can play.
const (
	roleEngine = "engine"  // ossupload.Upload
	roleSDK    = "sdk"     // oss.Bucket.UploadFile with Routines and Checkpoint
	roleRaw    = "raw"     // bare parallel PUT loop over pre-signed requests
	roleV2     = "sdkv2"   // the SDK v2 Uploader, in the peers binary (bench/peers)
	roleUtil   = "ossutil" // ossutil v1.7.19 cp, run by the parent itself
	// roleICECreds: RefreshUploadMedia into an ossutil config, for the shell
	// loop of the batch case.
	roleICECreds = "icecreds"
)

// region is the osstest default; the engine and the SDK both sign V4 with it.
const region = proto.Region

type (
	childArgs   = proto.Args
	childReport = proto.Report
	token       = proto.Token
)

var fetchToken = proto.FetchToken

// runChild plays one role and prints its report (proto.Run).
func runChild(a childArgs, stdout io.Writer) int {
	if a.Role == roleICECreds {
		if err := runICECreds(context.Background(), a); err != nil {
			fmt.Fprintln(os.Stderr, "bench icecreds:", refresh.Scrub(err.Error()))
			return 1
		}
		return 0
	}
	return proto.Run(a, stdout, os.Stderr, func(ctx context.Context, a childArgs) (childReport, error) {
		switch a.Role {
		case roleEngine:
			return runEngine(ctx, a)
		case roleSDK:
			return runSDK(ctx, a)
		case roleRaw:
			return runRaw(ctx, a)
		}
		return childReport{}, fmt.Errorf("unknown role %q", a.Role)
	})
}

func runEngine(ctx context.Context, a childArgs) (childReport, error) {
	f, err := os.Open(a.File)
	if err != nil {
		return childReport{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return childReport{}, err
	}
	src := ossupload.Source{R: f, Size: fi.Size()}
	opts := ossupload.Options{PartSize: a.PartSize, Concurrency: a.Jobs, MediaID: "bench-" + a.Key}
	if a.StateDir != "" {
		st, err := resume.Open(a.StateDir)
		if err != nil {
			return childReport{}, err
		}
		h, err := st.Lock(opts.MediaID)
		if err != nil {
			return childReport{}, err
		}
		defer h.Close()
		opts.State = h
		if src.Fingerprint, err = resume.FingerprintFile(a.File); err != nil {
			return childReport{}, err
		}
	}
	// Every call issues a fresh STS token, as RefreshUploadMedia would; the
	// first is fetched before the clock starts, as the other contenders'
	// only token is.
	first, err := fetchToken(ctx, a.Issuer, a.Key, a.TTL)
	if err != nil {
		return childReport{}, err
	}
	var calls atomic.Int64
	auth := ossupload.AuthorizerFunc(func(ctx context.Context) (ossupload.Grant, error) {
		t := first
		if calls.Add(1) > 1 {
			var err error
			if t, err = fetchToken(ctx, a.Issuer, a.Key, a.TTL); err != nil {
				return ossupload.Grant{}, err
			}
		}
		return ossupload.Grant{
			Target: ossupload.Target{Endpoint: a.Endpoint, Bucket: a.Bucket, Key: a.Key, Region: region},
			Credentials: ossupload.Credentials{AccessKeyID: t.AccessKeyID, AccessKeySecret: t.AccessKeySecret,
				SecurityToken: t.SecurityToken, Expires: t.Expires},
		}, nil
	})
	start := time.Now()
	if a.Events {
		opts.OnEvent = func(e ossupload.Event) {
			if e.Kind == ossupload.EventPartDone {
				return
			}
			code := ""
			var se oss.ServiceError
			if errors.As(e.Err, &se) {
				code = se.Code
			} else if e.Err != nil {
				code = fmt.Sprintf("%T", e.Err) // messages may quote request headers
			}
			fmt.Fprintf(os.Stderr, "event %6dms %s part=%d attempt=%d delay=%v %s\n",
				time.Since(start).Milliseconds(), e.Kind, e.PartNumber, e.Attempt, e.Delay.Round(time.Millisecond), code)
		}
	}
	res, err := ossupload.Upload(ctx, auth, src, opts)
	rep := childReport{Seconds: time.Since(start).Seconds()}
	if err != nil {
		return rep, err
	}
	rep.BytesSent, rep.Refreshes, rep.Retries, rep.PartsReused = res.BytesSent, res.Refreshes, res.Retries, res.PartsReused
	return rep, nil
}

func runSDK(ctx context.Context, a childArgs) (childReport, error) {
	t, err := fetchToken(ctx, a.Issuer, a.Key, a.TTL)
	if err != nil {
		return childReport{}, err
	}
	client, err := oss.New(a.Endpoint, t.AccessKeyID, t.AccessKeySecret,
		oss.SecurityToken(t.SecurityToken), oss.AuthVersion(oss.AuthV4), oss.Region(region))
	if err != nil {
		return childReport{}, err
	}
	b, err := client.Bucket(a.Bucket)
	if err != nil {
		return childReport{}, err
	}
	dir := a.StateDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-sdk-cp-"); err != nil {
			return childReport{}, err
		}
		defer os.RemoveAll(dir)
	}
	cp := filepath.Join(dir, "sdk-"+a.Key+".cp")
	start := time.Now()
	// UploadFile has no default part size; at "defaults" the bench gives it
	// 8 MiB (the engine's auto size up to 78 GiB) and leaves Routines at the
	// SDK's 1.
	part, opts := a.PartSize, []oss.Option{oss.Checkpoint(true, cp)}
	if part <= 0 {
		part = 8 * mib
	}
	if a.Jobs > 0 {
		opts = append(opts, oss.Routines(a.Jobs))
	}
	err = b.UploadFile(a.Key, a.File, part, opts...)
	return childReport{Seconds: time.Since(start).Seconds()}, err
}

// errUsage is returned when the parent passes nonsense to a child.
var errUsage = errors.New("bench child: bad arguments")
