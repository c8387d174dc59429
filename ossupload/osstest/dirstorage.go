package osstest

import (
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unicode/utf8"

	"github.com/reupload/reupload/internal/crc64x"
)

// dirStorage keeps each object as the file DIR/bucket/key, so tests can look
// at it, and parts and temporary files under DIR/.osstest (no bucket can be
// named that). All access goes through an os.Root, so even a symlink planted
// inside DIR cannot lead a write outside it.
type dirStorage struct {
	root *os.Root
	seq  atomic.Uint64

	mu    sync.RWMutex           // orders renames against Open/Stat, so attrs match the bytes
	attrs map[string]ObjectAttrs // by relative path; rebuilt from the file when missing
}

const (
	dirInternal = ".osstest"
	dirParts    = dirInternal + "/parts/"
	dirTmp      = dirInternal + "/tmp/"
)

// NewDirStorage keeps objects as files under dir, which it creates if needed.
// Objects left by an earlier run are served again (their ETag is then the
// content MD5 even for multipart objects); unfinished parts are deleted.
//
// A bucket/key can never escape dir: names with "." or ".." segments, empty
// segments ("a//b", a trailing "/"), a leading "/", "\" or NUL are refused
// with ErrInvalidName, and so are keys that clash with another key's
// directory ("a" and "a/b"). Use one DirStorage per directory at a time.
func NewDirStorage(dir string) (Storage, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("osstest: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("osstest: %w", err)
	}
	if err := root.RemoveAll(dirInternal); err != nil {
		root.Close()
		return nil, fmt.Errorf("osstest: clear %s: %w", dirInternal, err)
	}
	for _, d := range []string{dirParts, dirTmp} {
		if err := root.MkdirAll(strings.TrimSuffix(d, "/"), 0o755); err != nil {
			root.Close()
			return nil, fmt.Errorf("osstest: %w", err)
		}
	}
	return &dirStorage{root: root, attrs: map[string]ObjectAttrs{}}, nil
}

// Close releases the directory handle. The Server never calls it, since a
// Storage may outlive a Server.
func (d *dirStorage) Close() error { return d.root.Close() }

// validBucketName follows OSS's rule: 3–63 of [a-z0-9-], starting and ending
// with a letter or digit.
func validBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 || b[0] == '-' || b[len(b)-1] == '-' {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// objectPath maps bucket/key to a path relative to the root, or ErrInvalidName.
func objectPath(bucket, key string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: %q/%q: %s", ErrInvalidName, bucket, key, why)
	}
	switch {
	case !validBucketName(bucket):
		return bad("bucket name must be 3-63 of [a-z0-9-]")
	case key == "" || len(key) > 1023:
		return bad("key must be 1-1023 bytes")
	case !utf8.ValidString(key):
		return bad("key is not UTF-8")
	case strings.ContainsAny(key, "\x00\\"):
		return bad(`key contains NUL or "\"`)
	case key[0] == '/':
		return bad("key is absolute")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return bad("key has an empty, . or .. segment")
		}
	}
	p := bucket + "/" + key
	if !filepath.IsLocal(filepath.FromSlash(p)) {
		return bad("key is not a local path")
	}
	return p, nil
}

func partPath(id string) (string, error) {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '.') || id[0] == '.' {
			return "", fmt.Errorf("%w: part id %q", ErrInvalidName, id)
		}
	}
	if id == "" {
		return "", fmt.Errorf("%w: empty part id", ErrInvalidName)
	}
	return dirParts + id, nil
}

// clash turns the errors of a key that collides with a directory (or a
// directory with a file), or that runs through a symlink os.Root refused to
// follow, into ErrInvalidName.
func (d *dirStorage) clash(p string, err error) error {
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) ||
		errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
		return fmt.Errorf("%w: %s clashes with another object's path: %v", ErrInvalidName, p, err)
	}
	for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
		if fi, lerr := d.root.Lstat(dir); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%w: %s runs through the symlink %s: %v", ErrInvalidName, p, dir, err)
		}
	}
	return err
}

type writerOnly struct{ io.Writer } // hides ReadFrom so copyExact's large buffer is used

func (d *dirStorage) WritePart(id string, r io.Reader, size int64) error {
	p, err := partPath(id)
	if err != nil {
		return err
	}
	f, err := d.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = copyExact(writerOnly{f}, r, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		d.root.Remove(p)
	}
	return err
}

func (d *dirStorage) DeletePart(id string) error {
	p, err := partPath(id)
	if err != nil {
		return err
	}
	if err := d.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (d *dirStorage) Commit(bucket, key string, ids []string, attrs ObjectAttrs) (err error) {
	p, err := objectPath(bucket, key)
	if err != nil {
		return err
	}
	var src string
	if len(ids) == 1 {
		if src, err = partPath(ids[0]); err != nil {
			return err
		}
	} else {
		src = dirTmp + strconv.FormatUint(d.seq.Add(1), 10)
		defer func() {
			if err != nil {
				d.root.Remove(src)
			}
		}()
		if err := d.concat(src, ids); err != nil {
			return err
		}
	}
	if dir := path.Dir(p); dir != bucket {
		if err := d.root.MkdirAll(dir, 0o755); err != nil {
			return d.clash(p, err)
		}
	} else if err := d.root.MkdirAll(bucket, 0o755); err != nil {
		return err
	}
	d.mu.Lock()
	err = d.root.Rename(src, p)
	if err == nil {
		d.attrs[p] = attrs
	}
	d.mu.Unlock()
	if err != nil {
		return d.clash(p, err)
	}
	if len(ids) > 1 {
		for _, id := range ids {
			d.DeletePart(id)
		}
	}
	return nil
}

// concat writes the parts, in order, to the new file dst. Copying file to file
// lets the kernel do it (copy_file_range).
func (d *dirStorage) concat(dst string, ids []string) error {
	out, err := d.root.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	for _, id := range ids {
		p, err := partPath(id)
		if err == nil {
			var in *os.File
			if in, err = d.root.Open(p); err == nil {
				_, err = io.Copy(out, in)
				in.Close()
			}
		}
		if err != nil {
			out.Close()
			return err
		}
	}
	return out.Close()
}

func (d *dirStorage) Stat(bucket, key string) (ObjectAttrs, error) {
	a, f, err := d.Open(bucket, key)
	if err != nil {
		return a, err
	}
	f.Close()
	return a, nil
}

func (d *dirStorage) Open(bucket, key string) (ObjectAttrs, ObjectReader, error) {
	p, err := objectPath(bucket, key)
	if err != nil {
		return ObjectAttrs{}, nil, errNotExist // such a name can never have been stored
	}
	d.mu.RLock()
	f, err := d.root.Open(p)
	a, ok := d.attrs[p]
	d.mu.RUnlock()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalidName) || errors.Is(d.clash(p, err), ErrInvalidName) {
			return ObjectAttrs{}, nil, errNotExist // includes paths through a symlink os.Root will not follow
		}
		return ObjectAttrs{}, nil, err
	}
	if !ok {
		// Left by an earlier run: describe it from the file itself.
		a, err = describeFile(f, key)
		if err != nil {
			f.Close()
			if errors.Is(err, errNotExist) {
				return ObjectAttrs{}, nil, errNotExist
			}
			return ObjectAttrs{}, nil, err
		}
		d.mu.Lock()
		if _, raced := d.attrs[p]; !raced {
			d.attrs[p] = a
		}
		d.mu.Unlock()
	}
	return a, f, nil
}

func describeFile(f *os.File, key string) (ObjectAttrs, error) {
	fi, err := f.Stat()
	if err != nil {
		return ObjectAttrs{}, err
	}
	if !fi.Mode().IsRegular() {
		return ObjectAttrs{}, errNotExist // a directory made for longer keys
	}
	h := md5.New()
	c := crc64x.New()
	if _, err := io.Copy(io.MultiWriter(h, c), io.NewSectionReader(f, 0, fi.Size())); err != nil {
		return ObjectAttrs{}, err
	}
	ct := mime.TypeByExtension(path.Ext(key))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return ObjectAttrs{
		ObjectInfo: ObjectInfo{
			Size:         fi.Size(),
			ETag:         quotedHex(h.Sum(nil)),
			CRC64:        c.Sum64(),
			LastModified: fi.ModTime(),
		},
		ContentType: ct,
	}, nil
}

func (d *dirStorage) Delete(bucket, key string) error {
	p, err := objectPath(bucket, key)
	if err != nil {
		return nil // never stored
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fi, err := d.root.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	if err := d.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	delete(d.attrs, p)
	// Drop directories the object was the last thing in, as OSS has none.
	for dir := path.Dir(p); dir != bucket && dir != "."; dir = path.Dir(dir) {
		if d.root.Remove(dir) != nil {
			break
		}
	}
	return nil
}
