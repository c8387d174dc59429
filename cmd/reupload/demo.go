package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/ossupload"
)

// staticCredential is the emulator's caller key as a credentials-go credential.
func staticCredential(id, secret string) (credentials.Credential, error) {
	return credentials.NewCredential(new(credentials.Config).SetType("access_key").SetAccessKeyId(id).SetAccessKeySecret(secret))
}

func (e *env) demo(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	size := sizeFlag{v: 48 << 20}
	fs.Var(&size, "size", "size of the sample file")
	ttl := fs.Duration("sts-ttl", time.Minute, "upload credential lifetime, in the demo's emulated time")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(e.stdout, "usage: reupload demo [--size 48MiB] [--sts-ttl 1m]")
		return reupload.ExitOK
	}
	if err == nil && len(pos) > 0 {
		err = usagef("demo takes no arguments")
	}
	if err == nil && (size.v < 4<<20 || size.v > 1<<30) {
		err = usagef("--size %s: want 4MiB..1GiB", humanBytes(size.v))
	}
	if err == nil && (*ttl < 10*time.Second || *ttl > time.Hour) {
		err = usagef("--sts-ttl %s: want 10s..1h", *ttl)
	}
	if err != nil {
		return e.fail(err, false, "")
	}
	if err := e.runDemo(ctx, size.v, *ttl); err != nil {
		return e.fail(err, false, "")
	}
	return reupload.ExitOK
}

// demoClock is the demo's emulated time, shared by the emulator and the
// engine: it moves only when a part is done, so the credential expires
// mid-upload however fast or slow this machine is.
type demoClock struct{ ns atomic.Int64 }

func (c *demoClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *demoClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func (e *env) runDemo(ctx context.Context, size int64, ttl time.Duration) error {
	say := func(format string, args ...any) { fmt.Fprintf(e.stdout, format+"\n", args...) }
	clock := &demoClock{}
	clock.ns.Store(time.Now().UnixNano())
	// ICE reports the new file 30 s (emulated) after the upload, as real
	// ICE takes a while to pick it up: step 6 waits for it.
	const iceLag = 30 * time.Second
	em, err := emulator.Start(emulator.Config{STSTTL: ttl, Now: clock.Now, MediaLag: iceLag})
	if err != nil {
		return err
	}
	defer em.Close()
	info := em.Info()
	m := info.Media[0]
	say("1. started the embedded emulator: ICE %s, OSS %s; media %s lives at oss://%s/%s", info.ICEEndpoint, info.OSSEndpoint, m.MediaID, m.Bucket, m.Object)

	dir, err := os.MkdirTemp("", "reupload-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(data); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	copy(data, "\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom") // it starts like the MP4 it stands for
	path := filepath.Join(dir, "new-source.mp4")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	// About 48 parts, each taking an eighth of the credential's lifetime in
	// emulated time: the credential is due for a refresh every ~7 parts.
	partSize := max(ossupload.MinPartSize, size/48)
	parts := int((size + partSize - 1) / partSize)
	step := ttl / 8
	say("2. wrote a %s sample file (%d parts); upload credentials live %s and each part takes %s of emulated time, so they are refreshed mid-upload", humanBytes(size), parts, ttl, step)

	cred, err := staticCredential(info.AccessKeyID, info.AccessKeySecret)
	if err != nil {
		return err
	}
	c, err := reupload.New(reupload.Config{Endpoint: info.ICEEndpoint, Credential: cred, StateDir: filepath.Join(dir, "state"),
		Now: clock.Now, Sleep: func(ctx context.Context, d time.Duration) error { clock.Advance(d); return ctx.Err() }})
	if err != nil {
		return err
	}
	preview, err := c.Preview(ctx, m.MediaID, path)
	if err != nil {
		return err
	}
	say("   %s", previewLine(m.MediaID, path, preview))
	var refreshes atomic.Int64
	// The guards (empty, truncated, not media) and the preview's GetMediaInfo
	// answer are what put uses too.
	opts := reupload.Options{PartSize: partSize, Concurrency: 1, Guards: true, Preview: preview}
	opts.Engine.Now = clock.Now
	refreshed := func() {
		refreshes.Add(1)
		say("   refreshed the upload credential mid-upload (RefreshUploadMedia again, same upload ID)")
	}

	// Run 1: interrupted after ~40 % of the parts, as a Ctrl-C would.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var done atomic.Int64
	opts.OnEvent = func(ev ossupload.Event) {
		switch ev.Kind {
		case ossupload.EventPartDone:
			clock.Advance(step)
			if done.Add(1) == int64(parts*2/5) {
				cancel()
			}
		case ossupload.EventRefresh:
			refreshed()
		case ossupload.EventStart:
			say("   %s", startLine(ev))
		}
	}
	_, err = c.Overwrite(cctx, m.MediaID, path, opts)
	if !errors.Is(err, context.Canceled) {
		return fmt.Errorf("the interrupted run ended with %v, want an interruption", err)
	}
	old, err := em.OSS.ReadObject(m.Bucket, m.Object)
	if err != nil || !bytes.Equal(old, emulator.OldSource(m.MediaID)) {
		return fmt.Errorf("the old source changed before Complete: %v", err)
	}
	say("3. interrupted the upload after %d of %d parts; the old source is still whole on OSS (checked byte for byte)", done.Load(), parts)

	// Run 2: the same call resumes from the checkpoint.
	opts.OnEvent = func(ev ossupload.Event) {
		switch ev.Kind {
		case ossupload.EventPartDone:
			clock.Advance(step)
		case ossupload.EventRefresh:
			refreshed()
		case ossupload.EventStart:
			say("   %s", startLine(ev))
		}
	}
	// Byte progress, as put's bar shows it: bytes as they leave, resumed
	// ones counted as done but never as speed. A line at each quarter.
	quarter := int64(0)
	opts.OnProgress = func(p reupload.ProgressInfo) {
		if q := p.Sent * 4 / p.Total; q > quarter && q < 4 {
			quarter = q
			say("   progress: %s of %s sent (%s resumed), parts %d/%d, %d in flight", humanBytes(p.Sent), humanBytes(p.Total), humanBytes(p.Reused), p.PartsDone, p.Parts, p.InFlight)
		}
	}
	res, err := c.Overwrite(ctx, m.MediaID, path, opts)
	if err != nil {
		return err
	}
	say("4. resumed: %d parts were already on OSS, %s sent this time, %d credential refresh(es) in all, no part failed", res.PartsReused, humanBytes(res.BytesSent), refreshes.Load())
	got, err := em.OSS.ReadObject(m.Bucket, m.Object)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return errors.New("the object on OSS differs from the sample file")
	}
	if refreshes.Load() == 0 {
		return errors.New("no credential refresh happened; the demo is meant to show one")
	}
	if n := em.OSS.Stats().Errors["SecurityTokenExpired"]; n != 0 || res.Retries != 0 {
		return fmt.Errorf("%d requests met an expired credential and %d were retried; the refresh is meant to come first", n, res.Retries)
	}
	say("5. verified: oss://%s/%s now holds the new %s byte for byte (CRC-64 %s); MediaId %s unchanged", res.Bucket, res.Object, humanBytes(res.Size), res.CRC64, res.MediaID)
	say("   RefreshUploadMedia was called %d times in all", em.ICE.Calls("RefreshUploadMedia"))

	// ICE takes the new file a while after the upload: --wait's rule.
	start := clock.Now()
	mi, err := c.WaitForICE(ctx, m.MediaID, preview.Media, res.Size, 10*time.Minute)
	if err != nil {
		return err
	}
	f, _ := mi.Source()
	say("6. ICE reports the new file after %s (emulated): %s, status %s (what put --wait waits for)", clock.Now().Sub(start).Round(time.Second), humanBytes(f.FileSize), mi.Status)
	return nil
}
