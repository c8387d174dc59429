package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/refresh/icetest"
)

// status and abort print file names and object keys through
// reupload.QuoteName: an ESC, BEL or newline in a name shows as an escape
// instead of acting on the terminal or forging a line.
func TestHousekeepingQuotesNames(t *testing.T) {
	em, err := emulator.Start(emulator.Config{Media: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	info := em.Info()
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", info.AccessKeyID)
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", info.AccessKeySecret)
	t.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	t.Setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")

	const hostile = "clip\x1b[31m\a\nforged line"
	id := icetest.MediaID("hostile")
	key := "sv/" + hostile + "/source.mp4"
	if err := em.OSS.PutObjectData(emulator.Bucket, key, emulator.OldSource(id)); err != nil {
		t.Fatal(err)
	}
	em.ICE.AddMedia(icetest.Media{ID: id, Bucket: emulator.Bucket, Object: key, Title: "hostile"})

	dir, state := t.TempDir(), t.TempDir()
	src := filepath.Join(dir, hostile+".mp4")
	data := bytes.Repeat([]byte("\x00\x00\x00\x18ftypmp42 video bytes "), 20000)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := em.AddFault("UploadPart:times=1000:403:AccessDenied"); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	common := []string{"--endpoint", info.ICEEndpoint, "--state-dir", state}
	if code := run(append([]string{"put", "--quiet", "--part-size", "100KiB", id, src}, common...), strings.NewReader(""), &out, &errb); code != 1 {
		t.Fatalf("put: exit %d, want 1 (a checkpoint left): %s", code, errb.String())
	}
	em.OSS.ClearFaults()

	for _, args := range [][]string{
		{"status"},
		{"status", "--oss", id},
		{"abort", "--all-uploads", id},
	} {
		out.Reset()
		errb.Reset()
		if code := run(append(args, common...), strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		text := out.String() + errb.String()
		if strings.ContainsAny(text, "\x1b\a") || strings.Contains(text, "\nforged line") {
			t.Errorf("%v printed a name raw:\n%q", args, text)
		}
		if !strings.Contains(text, `clip\x1b[31m\a\nforged line`) {
			t.Errorf("%v: the name is not shown escaped:\n%q", args, text)
		}
	}
	if n := len(em.OSS.Uploads(emulator.Bucket)); n != 0 {
		t.Errorf("%d uploads left on OSS", n)
	}
}
