package osstest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math"
	"slices"
	"sync"
)

// ObjectAttrs is what a Storage keeps about an object besides its bytes.
type ObjectAttrs struct {
	ObjectInfo
	ContentType string
	Meta        map[string]string // x-oss-meta-* headers: lower-case name without the prefix → value
	Multipart   bool              // made by CompleteMultipartUpload (x-oss-object-type: Multipart)
}

// ObjectReader reads an object's bytes; the content is fixed at Open even if
// the object is replaced later.
type ObjectReader interface {
	io.ReaderAt
	io.Closer
}

// Storage keeps the bytes of parts and objects; the Server keeps all upload
// bookkeeping. Every method may be called from many goroutines at once.
//
// Parts are named by unique IDs the server chooses ([0-9A-Z.]+): re-uploading a
// part number writes a new ID, so a Complete in flight never sees a part
// change under it.
type Storage interface {
	// WritePart stores exactly size bytes read from r as part id, or, when
	// size < 0, everything up to EOF. On any error nothing is kept.
	WritePart(id string, r io.Reader, size int64) error
	// DeletePart forgets part id; a missing part is not an error.
	DeletePart(id string) error
	// Commit makes the parts, concatenated in order, the content of
	// bucket/key with attrs, replacing any old object atomically: readers see
	// the old bytes, whole, until Commit returns. The parts are consumed.
	Commit(bucket, key string, partIDs []string, attrs ObjectAttrs) error
	// Stat returns an object's attributes; errors.Is(err, fs.ErrNotExist) when missing.
	Stat(bucket, key string) (ObjectAttrs, error)
	// Open returns an object's attributes and bytes, from one consistent version.
	Open(bucket, key string) (ObjectAttrs, ObjectReader, error)
	// Delete removes an object; a missing object is not an error.
	Delete(bucket, key string) error
}

var (
	// ErrNoContent is returned by DiscardStorage's Open: it keeps no bytes.
	ErrNoContent = errors.New("osstest: storage keeps no object content")
	// ErrInvalidName is returned by DirStorage for names it cannot map to a
	// file below its directory (.., absolute, NUL, empty segments, …).
	ErrInvalidName = errors.New("osstest: object name cannot be stored")
)

var errNotExist = fs.ErrNotExist

type objKey struct{ bucket, key string }

// copyBufPool holds the buffers that move part bodies; large reads mean few
// syscalls and few hash calls per byte.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// copyExact copies exactly size bytes from r to w, or all of r when size < 0.
func copyExact(w io.Writer, r io.Reader, size int64) error {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	toEOF := size < 0
	if toEOF {
		size = math.MaxInt64
	}
	for size > 0 {
		b := buf
		if int64(len(b)) > size {
			b = b[:size]
		}
		n, err := r.Read(b)
		if n > 0 {
			if _, werr := w.Write(b[:n]); werr != nil {
				return werr
			}
			size -= int64(n)
		}
		if err == io.EOF {
			if size > 0 && !toEOF {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// --- memory ---

type memStorage struct {
	mu      sync.RWMutex
	parts   map[string][]byte
	objects map[objKey]*memObject
}

// memObject is immutable once committed: readers hold it without locks.
type memObject struct {
	attrs   ObjectAttrs
	chunks  [][]byte // the part buffers themselves: Complete copies nothing
	offsets []int64  // offsets[i] is where chunks[i] starts
}

// NewMemoryStorage keeps parts and objects in memory. Completing an upload
// reuses the part buffers, so each byte is held once.
func NewMemoryStorage() Storage {
	return &memStorage{parts: map[string][]byte{}, objects: map[objKey]*memObject{}}
}

func (m *memStorage) WritePart(id string, r io.Reader, size int64) error {
	var buf []byte
	if size < 0 {
		var b bytes.Buffer
		if _, err := b.ReadFrom(r); err != nil {
			return err
		}
		buf = b.Bytes()
	} else {
		buf = make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
	}
	m.mu.Lock()
	m.parts[id] = buf
	m.mu.Unlock()
	return nil
}

func (m *memStorage) DeletePart(id string) error {
	m.mu.Lock()
	delete(m.parts, id)
	m.mu.Unlock()
	return nil
}

func (m *memStorage) Commit(bucket, key string, ids []string, attrs ObjectAttrs) error {
	o := &memObject{attrs: attrs}
	m.mu.Lock()
	defer m.mu.Unlock()
	var off int64
	for _, id := range ids {
		b, ok := m.parts[id]
		if !ok {
			return errors.New("osstest: commit of missing part " + id)
		}
		if len(b) > 0 {
			o.chunks = append(o.chunks, b)
			o.offsets = append(o.offsets, off)
			off += int64(len(b))
		}
	}
	for _, id := range ids {
		delete(m.parts, id)
	}
	m.objects[objKey{bucket, key}] = o
	return nil
}

func (m *memStorage) Stat(bucket, key string) (ObjectAttrs, error) {
	m.mu.RLock()
	o, ok := m.objects[objKey{bucket, key}]
	m.mu.RUnlock()
	if !ok {
		return ObjectAttrs{}, errNotExist
	}
	return o.attrs, nil
}

func (m *memStorage) Open(bucket, key string) (ObjectAttrs, ObjectReader, error) {
	m.mu.RLock()
	o, ok := m.objects[objKey{bucket, key}]
	m.mu.RUnlock()
	if !ok {
		return ObjectAttrs{}, nil, errNotExist
	}
	return o.attrs, o, nil
}

func (m *memStorage) Delete(bucket, key string) error {
	m.mu.Lock()
	delete(m.objects, objKey{bucket, key})
	m.mu.Unlock()
	return nil
}

func (o *memObject) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("osstest: negative offset")
	}
	if off >= o.attrs.Size {
		return 0, io.EOF
	}
	// The last chunk starting at or before off.
	i, found := slices.BinarySearch(o.offsets, off)
	if !found {
		i--
	}
	n := 0
	for n < len(p) && i < len(o.chunks) {
		n += copy(p[n:], o.chunks[i][off+int64(n)-o.offsets[i]:])
		i++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (o *memObject) Close() error { return nil }

// --- discard ---

type discardStorage struct {
	mu      sync.RWMutex
	objects map[objKey]ObjectAttrs
}

// NewDiscardStorage keeps only sizes, ETags and CRC64s, for benchmarks of
// files larger than RAM. GetObject answers 501 NotImplemented and
// Server.ReadObject fails with ErrNoContent.
func NewDiscardStorage() Storage {
	return &discardStorage{objects: map[objKey]ObjectAttrs{}}
}

func (d *discardStorage) WritePart(id string, r io.Reader, size int64) error {
	return copyExact(io.Discard, r, size)
}

func (d *discardStorage) DeletePart(string) error { return nil }

func (d *discardStorage) Commit(bucket, key string, _ []string, attrs ObjectAttrs) error {
	d.mu.Lock()
	d.objects[objKey{bucket, key}] = attrs
	d.mu.Unlock()
	return nil
}

func (d *discardStorage) Stat(bucket, key string) (ObjectAttrs, error) {
	d.mu.RLock()
	a, ok := d.objects[objKey{bucket, key}]
	d.mu.RUnlock()
	if !ok {
		return ObjectAttrs{}, errNotExist
	}
	return a, nil
}

func (d *discardStorage) Open(bucket, key string) (ObjectAttrs, ObjectReader, error) {
	a, err := d.Stat(bucket, key)
	if err != nil {
		return a, nil, err
	}
	return a, nil, ErrNoContent
}

func (d *discardStorage) Delete(bucket, key string) error {
	d.mu.Lock()
	delete(d.objects, objKey{bucket, key})
	d.mu.Unlock()
	return nil
}
