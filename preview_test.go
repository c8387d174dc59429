package reupload_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliyun/credentials-go/credentials"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
)

// mp4Head is the start of an MP4 file: what the guards take for video.
var mp4Head = []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41")

func writeBytes(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Preview names the media and its current file, and judges the new source.
func TestPreview(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	m := h.info.Media[0]
	src := writeBytes(t, "new.mp4", append(bytes.Clone(mp4Head), make([]byte, 4000)...))
	p, err := h.c.Preview(context.Background(), m.MediaID, src)
	if err != nil {
		t.Fatal(err)
	}
	if p.Media == nil || p.Media.Title == "" || p.Current.FileSize != int64(len(emulator.OldSource(m.MediaID))) {
		t.Fatalf("preview %+v: want the media's title and its current (seeded) size", p)
	}
	if p.Size != int64(len(mp4Head)+4000) || p.Format != "video/mp4" || len(p.Problems) != 0 {
		t.Fatalf("preview of an MP4: size %d, format %q, problems %v", p.Size, p.Format, p.Problems)
	}
}

// The guards refuse, before anything is sent, an empty source, one that
// looks truncated and one that is not media; with Guards off (the library's
// default) the same sources are uploaded.
func TestGuards(t *testing.T) {
	h := newHarness(t, emulator.Config{})
	big, err := h.em.AddMedia("big")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.em.OSS.PutObjectData(big.Bucket, big.Object, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	m := h.info.Media[0]
	ctx := context.Background()
	cases := []struct {
		name, media, code string
		data              []byte
	}{
		{"empty", m.MediaID, reupload.ProblemEmpty, nil},
		{"truncated", big.MediaID, reupload.ProblemTruncated, append(bytes.Clone(mp4Head), make([]byte, 50<<10)...)},
		{"zip", m.MediaID, reupload.ProblemNotMedia, append([]byte("PK\x03\x04"), make([]byte, 5000)...)},
		{"html", m.MediaID, reupload.ProblemNotMedia, []byte("<!DOCTYPE html><html><body>Sign in</body></html>")},
		{"json", m.MediaID, reupload.ProblemNotMedia, []byte(`{"error": "not found"}`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeBytes(t, c.name+".mp4", c.data)
			before := h.em.ICE.Calls("RefreshUploadMedia")
			_, err := h.c.Overwrite(ctx, c.media, path, reupload.Options{Guards: true})
			var ge *reupload.GuardError
			if !errors.As(err, &ge) || !hasProblem(ge.Problems, c.code) || reupload.ExitCode(err) != reupload.ExitUsage {
				t.Fatalf("err = %v (exit %d), want a %s refusal with exit 2", err, reupload.ExitCode(err), c.code)
			}
			if h.em.ICE.Calls("RefreshUploadMedia") != before {
				t.Fatal("an upload credential was asked for a refused source")
			}
			// The stream path refuses the same, without losing bytes it peeked.
			// (a stream's size is unknown, so it is never "truncated").
			_, err = h.c.OverwriteStream(ctx, c.media, bytes.NewReader(c.data), reupload.Options{Guards: true})
			if c.code != reupload.ProblemTruncated && (!errors.As(err, &ge) || !hasProblem(ge.Problems, c.code)) {
				t.Fatalf("stream: err = %v, want a %s refusal", err, c.code)
			}
			if _, err := h.c.Overwrite(ctx, c.media, path, reupload.Options{}); err != nil {
				t.Fatalf("without guards: %v", err)
			}
		})
	}
	// A stream whose first bytes were peeked is uploaded whole.
	data := append(bytes.Clone(mp4Head), bytes.Repeat([]byte("v"), 300<<10)...)
	if _, err := h.c.OverwriteStream(ctx, m.MediaID, bytes.NewReader(data), reupload.Options{Guards: true}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.object(t, m), data) {
		t.Fatal("the peeked stream's object differs")
	}
	// An unknown format is a warning, not a refusal.
	p, err := h.c.Preview(ctx, m.MediaID, writeBytes(t, "odd.bin", bytes.Repeat([]byte{0x42, 0x13}, 200<<10)))
	if err != nil || len(p.Problems) != 0 || len(p.Warnings) != 1 {
		t.Fatalf("unknown format: %+v, %v; want one warning, no problem", p, err)
	}
}

// A caller without ice:GetMediaInfo gets a preview without the media and a
// warning; the size guard is off, the others stay on.
func TestPreviewWithoutGetMediaInfo(t *testing.T) {
	h := newHarness(t, emulator.Config{Deny: []string{"GetMediaInfo"}})
	cred, err := credentials.NewCredential(new(credentials.Config).SetType("access_key").
		SetAccessKeyId(h.info.DeniedAccessKeyID).SetAccessKeySecret(h.info.DeniedAccessKeySecret))
	if err != nil {
		t.Fatal(err)
	}
	c, err := reupload.New(reupload.Config{Endpoint: h.info.ICEEndpoint, Credential: cred, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m := h.info.Media[0]
	p, err := c.Preview(context.Background(), m.MediaID, writeBytes(t, "a.mp4", mp4Head))
	if err != nil || p.Media != nil || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "ice:GetMediaInfo") {
		t.Fatalf("preview %+v, %v; want no media and a warning naming ice:GetMediaInfo", p, err)
	}
	var ge *reupload.GuardError
	if _, err := c.Overwrite(context.Background(), m.MediaID, writeBytes(t, "e.mp4", nil), reupload.Options{Guards: true}); !errors.As(err, &ge) {
		t.Fatalf("empty source without GetMediaInfo: %v, want refused", err)
	}
}

func hasProblem(ps []reupload.Problem, code string) bool {
	for _, p := range ps {
		if p.Code == code {
			return true
		}
	}
	return false
}
