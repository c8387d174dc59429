package reupload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/refresh"
)

// exampleClient starts the emulator (a fake ICE and OSS on loopback) with n
// media and a Client that talks to it, keeping its checkpoints in dir.
// Against Alibaba Cloud, reupload.New(reupload.Config{Region: "cn-shanghai"})
// takes the credentials from the default chain instead.
func exampleClient(n int, dir string) (*reupload.Client, []emulator.Media, func()) {
	em, err := emulator.Start(emulator.Config{Media: n})
	if err != nil {
		log.Fatal(err)
	}
	info := em.Info()
	cred, err := credentials.NewCredential(new(credentials.Config).SetType("access_key").
		SetAccessKeyId(info.AccessKeyID).SetAccessKeySecret(info.AccessKeySecret))
	if err != nil {
		log.Fatal(err)
	}
	c, err := reupload.New(reupload.Config{Endpoint: info.ICEEndpoint, Credential: cred, StateDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	return c, info.Media, em.Close
}

// exampleFile writes size bytes to a file in dir.
func exampleFile(dir, name string, size int) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, bytes.Repeat([]byte("frame "), size/6+1)[:size], 0o644); err != nil {
		log.Fatal(err)
	}
	return p
}

// Overwrite replaces the source of one media with a local file (or an
// http(s) URL), keeping its MediaId.
func ExampleClient_Overwrite() {
	dir, _ := os.MkdirTemp("", "reupload-example")
	defer os.RemoveAll(dir)
	c, media, stop := exampleClient(1, dir)
	defer stop()

	path := exampleFile(dir, "new.mp4", 20<<20)
	res, err := c.Overwrite(context.Background(), media[0].MediaID, path, reupload.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("done: %d bytes in %d part(s) of %d bytes, resumable %v\n", res.Size, res.Parts, res.PartSize, res.Resumable)
	// Output: done: 20971520 bytes in 3 part(s) of 8388608 bytes, resumable true
}

// Every error is typed: ICE failures are *refresh.APIError with ICE's own
// code and request id, and ExitCode maps any error to the CLI's exit code.
func ExampleClient_Overwrite_unknownMedia() {
	dir, _ := os.MkdirTemp("", "reupload-example")
	defer os.RemoveAll(dir)
	c, _, stop := exampleClient(1, dir)
	defer stop()

	path := exampleFile(dir, "new.mp4", 1024)
	_, err := c.Overwrite(context.Background(), "0123456789abcdef0123456789abcdef", path, reupload.Options{})
	var apiErr *refresh.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Code, apiErr.StatusCode, "exit", reupload.ExitCode(err))
	}
	// Output: ResourceNotFound 404 exit 1
}

// Batch overwrites many media under one budget of parts in flight; each
// media gets one result, in manifest order.
func ExampleClient_Batch() {
	dir, _ := os.MkdirTemp("", "reupload-example")
	defer os.RemoveAll(dir)
	c, media, stop := exampleClient(2, dir)
	defer stop()

	items := []reupload.Item{
		{MediaID: media[0].MediaID, Source: exampleFile(dir, "a.mp4", 300<<10)},
		{MediaID: media[1].MediaID, Source: exampleFile(dir, "b.mp4", 1000)},
	}
	results, err := c.Batch(context.Background(), items, reupload.BatchOptions{Files: 2})
	if err != nil {
		log.Fatal(err)
	}
	for i, r := range results {
		fmt.Printf("item %d: %s, %d bytes\n", i+1, r.Status, r.Bytes)
	}
	// Output:
	// item 1: done, 307200 bytes
	// item 2: done, 1000 bytes
}

// OverwriteReader uploads any io.ReaderAt. With a SourceID that changes
// whenever the content does, an interrupted upload resumes on the next call.
func ExampleClient_OverwriteReader() {
	dir, _ := os.MkdirTemp("", "reupload-example")
	defer os.RemoveAll(dir)
	c, media, stop := exampleClient(1, dir)
	defer stop()

	content := bytes.Repeat([]byte("rendered frame "), 10000)
	res, err := c.OverwriteReader(context.Background(), media[0].MediaID, bytes.NewReader(content), int64(len(content)),
		reupload.Options{SourceID: "render/episode-7@v3"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("done: %d bytes, resumable %v\n", res.Size, res.Resumable)
	// Output: done: 150000 bytes, resumable true
}
