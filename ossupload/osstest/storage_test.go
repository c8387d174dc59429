package osstest_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/reupload/reupload/ossupload/osstest"
)

func TestDirStorageRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st, err := osstest.NewDirStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.(io.Closer).Close()
	s := newServer(t, osstest.Options{Storage: st})
	const key = "videos/2025/clip one.mp4"
	data := randomBytes(1_300_000, 4)
	b := stsBucket(t, s, key, time.Hour)
	if err := b.UploadFile(key, writeTemp(t, data), 256<<10, oss.Routines(3), oss.Checkpoint(true, filepath.Join(t.TempDir(), "cp"))); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, bucketName, "videos", "2025", "clip one.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	equalBytes(t, "file on disk", onDisk, data)
	rc, err := b.GetObject(key, oss.Range(100, 199))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	equalBytes(t, "range from a file", got, data[100:200])
	if err := b.GetObjectToFile(key, filepath.Join(t.TempDir(), "dl")); err != nil { // whole-object CRC check
		t.Fatal(err)
	}
	parts, _ := os.ReadDir(filepath.Join(dir, ".osstest", "parts"))
	if len(parts) != 0 {
		t.Fatalf("%d part files left", len(parts))
	}

	// A new storage on the same directory serves what the old one wrote.
	st2, err := osstest.NewDirStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.(io.Closer).Close()
	s2 := newServer(t, osstest.Options{Storage: st2})
	equalBytes(t, "after reopening", mustRead(t, s2, key), data)
	if info, ok := s2.Object(bucketName, key); !ok || info.CRC64 != crcOf(data) || info.Size != int64(len(data)) {
		t.Fatalf("Object() after reopening = %+v, %v", info, ok)
	}

	if err := b.DeleteObject(key); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, bucketName, "videos")); !os.IsNotExist(err) {
		t.Fatalf("empty directories left after delete: %v", err)
	}
}

// No bucket/key, however spelled, reads or writes outside the directory.
func TestDirStorageRefusesEscapingNames(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "store")
	outside := filepath.Join(top, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := osstest.NewDirStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.(io.Closer).Close()
	s := newServer(t, osstest.Options{Storage: st})
	// A symlink planted inside the bucket that points outside.
	if err := os.MkdirAll(filepath.Join(dir, bucketName), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, bucketName, "link")); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"../outside/x", "../../outside/x", "a/../../../outside/x", "..", ".", "/abs", "/" + outside + "/x",
		"a\x00b", `..\outside\x`, "a//b", "a/", "link/x", "link/../../outside/x",
	} {
		err := s.PutObjectData(bucketName, key, []byte("evil"))
		if err == nil {
			t.Errorf("PutObjectData(%q) stored", key)
		} else if !errors.Is(err, osstest.ErrInvalidName) {
			t.Errorf("PutObjectData(%q): %v, want ErrInvalidName", key, err)
		}
	}
	for _, b := range []string{"..", "../store", "x/y", ".osstest"} {
		s.CreateBucket(b)
		if err := s.PutObjectData(b, "k", []byte("evil")); err == nil {
			t.Errorf("bucket %q accepted", b)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("wrote outside the directory: %v", entries)
	}
	if entries, _ := os.ReadDir(top); len(entries) != 2 {
		t.Fatalf("wrote next to the directory: %v", entries)
	}

	// Through the SDK the same names get 400 InvalidObjectName.
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	for _, key := range []string{"../outside/x", "a/./b", "link/x"} {
		err := b.PutObject(key, strings.NewReader("evil"))
		wantCode(t, err, 400, "InvalidObjectName")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("wrote outside the directory: %v", entries)
	}
	// Reads of such names are plain misses, even where a file exists outside.
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"../outside/secret", "link/secret"} {
		_, err = b.GetObject(key)
		wantCode(t, err, 404, "NoSuchKey")
		if _, ok := s.Object(bucketName, key); ok {
			t.Fatalf("Object(%q) found a file outside the directory", key)
		}
	}
}

func TestDirStorageKeyClash(t *testing.T) {
	st, err := osstest.NewDirStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.(io.Closer).Close()
	s := newServer(t, osstest.Options{Storage: st})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	if err := b.PutObject("a", strings.NewReader("file")); err != nil {
		t.Fatal(err)
	}
	wantCode(t, b.PutObject("a/b", strings.NewReader("under a file")), 400, "InvalidObjectName")
	if err := b.PutObject("d/e", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	wantCode(t, b.PutObject("d", strings.NewReader("over a dir")), 400, "InvalidObjectName")
	_, err = b.GetObject("d") // a directory is not an object
	wantCode(t, err, 404, "NoSuchKey")
}

func TestDiscardStorage(t *testing.T) {
	s := newServer(t, osstest.Options{Storage: osstest.NewDiscardStorage()})
	const key = "huge.bin"
	data := randomBytes(900_000, 6)
	b := stsBucket(t, s, key, time.Hour)
	if err := b.UploadFile(key, writeTemp(t, data), 200<<10, oss.Routines(4)); err != nil {
		t.Fatal(err)
	}
	info, ok := s.Object(bucketName, key)
	if !ok || info.Size != int64(len(data)) || info.CRC64 != crcOf(data) || !strings.HasSuffix(info.ETag, `-5"`) {
		t.Fatalf("Object() = %+v, %v", info, ok)
	}
	if _, err := s.ReadObject(bucketName, key); !errors.Is(err, osstest.ErrNoContent) {
		t.Fatalf("ReadObject: %v, want ErrNoContent", err)
	}
	if h, err := b.GetObjectDetailedMeta(key); err != nil || h.Get("Content-Length") != "900000" {
		t.Fatalf("HeadObject: %v %v", h, err)
	}
	_, err := b.GetObject(key)
	wantCode(t, err, 501, "NotImplemented")
}

func TestMemoryStorageMissing(t *testing.T) {
	st := osstest.NewMemoryStorage()
	if _, err := st.Stat("b", "k"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat: %v", err)
	}
	if err := st.WritePart("P1", bytes.NewReader([]byte("ab")), 3); err == nil {
		t.Fatal("short body accepted")
	}
	if err := st.Commit("b", "k", []string{"P1"}, osstest.ObjectAttrs{}); err == nil {
		t.Fatal("commit of a part that failed to write")
	}
}
