package osstest

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Size         int64
	ETag         string // quoted, as in the ETag header
	CRC64        uint64 // x-oss-hash-crc64ecma
	LastModified time.Time
}

// PutObjectData stores an object directly, without a request or signature.
func (s *Server) PutObjectData(bucket, key string, data []byte) error {
	if !s.bucketExists(bucket) {
		return fmt.Errorf("osstest: no bucket %q", bucket)
	}
	pid := s.newPartID()
	hr := newHashingReader(bytes.NewReader(data))
	if err := s.storage.WritePart(pid, hr, int64(len(data))); err != nil {
		return err
	}
	attrs := ObjectAttrs{
		ObjectInfo:  ObjectInfo{Size: hr.n, ETag: quotedHex(hr.md5.Sum(nil)), CRC64: hr.crc, LastModified: s.now()},
		ContentType: "application/octet-stream",
	}
	lk := s.keyLock(bucket, key)
	lk.Lock()
	defer lk.Unlock()
	if err := s.storage.Commit(bucket, key, []string{pid}, attrs); err != nil {
		s.storage.DeletePart(pid)
		return err
	}
	return nil
}

// Object reports an object's size, ETag, CRC-64 and modification time.
func (s *Server) Object(bucket, key string) (ObjectInfo, bool) {
	a, err := s.storage.Stat(bucket, key)
	if err != nil {
		return ObjectInfo{}, false
	}
	return a.ObjectInfo, true
}

// ReadObject returns an object's whole content (memory and dir storage).
func (s *Server) ReadObject(bucket, key string) ([]byte, error) {
	a, rd, err := s.storage.Open(bucket, key)
	if err != nil {
		return nil, fmt.Errorf("osstest: read %s/%s: %w", bucket, key, err)
	}
	defer rd.Close()
	b := make([]byte, a.Size)
	if _, err := rd.ReadAt(b, 0); err != nil && !(err == io.EOF && a.Size == 0) {
		return nil, fmt.Errorf("osstest: read %s/%s: %w", bucket, key, err)
	}
	return b, nil
}

// checkKey applies OSS's object-name rules.
func checkKey(key string) error {
	switch {
	case key == "":
		return newErrorMsg("InvalidObjectName", "The Object name can not be empty.")
	case len(key) > 1023:
		return newErrorMsg("InvalidObjectName", "The Length of Object name must be less than 1024.")
	case !utf8.ValidString(key) || key[0] == '/' || key[0] == '\\':
		return newError("InvalidObjectName")
	}
	return nil
}

func forbidOverwrite(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("x-oss-forbid-overwrite"), "true")
}

func contentType(r *http.Request) string {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

// userMeta collects x-oss-meta-* headers.
func userMeta(h http.Header) map[string]string {
	var m map[string]string
	for name, v := range h {
		if lk := strings.ToLower(name); strings.HasPrefix(lk, "x-oss-meta-") && len(v) > 0 {
			if m == nil {
				m = map[string]string{}
			}
			m[strings.TrimPrefix(lk, "x-oss-meta-")] = v[0]
		}
	}
	return m
}

// contentMD5 decodes a Content-MD5 header; nil when absent.
func contentMD5(r *http.Request) ([]byte, error) {
	h := r.Header.Get("Content-MD5")
	if h == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(h)
	if err != nil || len(b) != md5.Size {
		return nil, newError("InvalidDigest")
	}
	return b, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// receive streams the body into a new storage part, hashing it on the way,
// and checks Content-MD5. It reads exactly Content-Length bytes; a body
// without one (chunked: Go's client sends a zero-length PUT body that way, so
// the SDK does too) is read to its end, up to the 5 GiB part limit.
func (rq *request) receive(wantMD5 []byte) (*part, error) {
	s := rq.s
	p := &part{id: s.newPartID()}
	size := rq.r.ContentLength
	var body io.Reader = rq.r.Body
	if size < 0 {
		body = io.LimitReader(body, maxPartSize+1)
	}
	hr := newHashingReader(body)
	if err := s.storage.WritePart(p.id, hr, size); err != nil {
		s.storage.DeletePart(p.id)
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || rq.r.Context().Err() != nil {
			return nil, newError("IncompleteBody") // the client is gone or lied about the length
		}
		return nil, storageError(err)
	}
	if hr.n > maxPartSize {
		s.storage.DeletePart(p.id)
		return nil, newError("EntityTooLarge")
	}
	copy(p.md5[:], hr.md5.Sum(nil))
	if wantMD5 != nil && !bytes.Equal(wantMD5, p.md5[:]) {
		s.storage.DeletePart(p.id)
		return nil, newError("InvalidDigest")
	}
	p.crc, p.size, p.modified = hr.crc, hr.n, s.now()
	return p, nil
}

// storageError maps a Storage failure to what the client sees.
func storageError(err error) error {
	if errors.Is(err, ErrInvalidName) {
		return newErrorMsg("InvalidObjectName", err.Error())
	}
	return err // InternalError, logged
}

// setCRC sets x-oss-hash-crc64ecma, deliberately wrong under a BadCRC fault.
func (rq *request) setCRC(crc uint64) {
	if rq.badCRC {
		crc ^= 0x5A5A5A5A5A5A5A5A
	}
	rq.w.Header().Set("x-oss-hash-crc64ecma", strconv.FormatUint(crc, 10))
}

func (rq *request) putObject() error {
	s, r := rq.s, rq.r
	if err := checkKey(rq.key); err != nil {
		return err
	}
	if r.ContentLength > maxPartSize {
		return newError("EntityTooLarge")
	}
	wantMD5, err := contentMD5(r)
	if err != nil {
		return err
	}
	forbid := forbidOverwrite(r)
	if forbid {
		if _, err := s.storage.Stat(rq.bucket, rq.key); err == nil {
			return newError("FileAlreadyExists")
		}
	}
	p, err := rq.receive(wantMD5)
	if err != nil {
		return err
	}
	attrs := ObjectAttrs{
		ObjectInfo:  ObjectInfo{Size: p.size, ETag: p.etag(), CRC64: p.crc, LastModified: p.modified},
		ContentType: contentType(r),
		Meta:        userMeta(r.Header),
	}
	lk := s.keyLock(rq.bucket, rq.key)
	lk.Lock()
	if forbid {
		if _, err := s.storage.Stat(rq.bucket, rq.key); err == nil {
			lk.Unlock()
			s.storage.DeletePart(p.id)
			return newError("FileAlreadyExists")
		}
	}
	err = s.storage.Commit(rq.bucket, rq.key, []string{p.id}, attrs)
	lk.Unlock()
	if err != nil {
		s.storage.DeletePart(p.id)
		return storageError(err)
	}
	h := rq.w.Header()
	h.Set("ETag", attrs.ETag)
	h.Set("Content-MD5", b64(p.md5[:]))
	rq.setCRC(p.crc)
	h.Set("Content-Length", "0")
	rq.respond(http.StatusOK)
	return nil
}

func (rq *request) objectHeaders(a ObjectAttrs) {
	h := rq.w.Header()
	h.Set("Content-Type", a.ContentType)
	h.Set("ETag", a.ETag)
	h.Set("Last-Modified", a.LastModified.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	h.Set("x-oss-storage-class", "Standard")
	if a.Multipart {
		h.Set("x-oss-object-type", "Multipart")
	} else {
		h.Set("x-oss-object-type", "Normal")
	}
	for k, v := range a.Meta {
		h.Set("x-oss-meta-"+k, v)
	}
	rq.setCRC(a.CRC64)
}

func noSuchKey(key string) *ossError { return newError("NoSuchKey").with("Key", key) }

func (rq *request) getObject() error {
	s := rq.s
	a, rd, err := s.storage.Open(rq.bucket, rq.key)
	switch {
	case errors.Is(err, ErrNoContent):
		return newErrorMsg("NotImplemented", "osstest: this server's storage keeps no object content.")
	case errors.Is(err, errNotExist):
		return noSuchKey(rq.key)
	case err != nil:
		return err
	}
	defer rd.Close()
	if done, err := rq.conditional(a); done || err != nil {
		return err
	}
	standard := strings.EqualFold(rq.r.Header.Get("x-oss-range-behavior"), "standard")
	start, length, partial, err := parseRange(rq.r.Header.Get("Range"), a.Size, standard)
	if err != nil {
		return err
	}
	rq.objectHeaders(a)
	h := rq.w.Header()
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	if partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, a.Size))
		rq.respond(http.StatusPartialContent)
	} else {
		rq.respond(http.StatusOK)
	}
	if f, ok := rd.(*os.File); ok {
		// A file behind a LimitedReader lets net/http use sendfile.
		if _, err := f.Seek(start, io.SeekStart); err == nil {
			io.Copy(rq.w, io.LimitReader(f, length))
		}
		return nil
	}
	io.Copy(rq.w, io.NewSectionReader(rd, start, length))
	return nil
}

// maxRanges is the most byte ranges one Range header may list
// (https://www.alibabacloud.com/help/fr/oss/user-guide/0016-00000110).
const maxRanges = 50

// parseRange reads a single "bytes=" range. Like OSS by default, a range
// that does not fit the object is ignored (the whole object, 200); with
// x-oss-range-behavior: standard the end is clamped and a start past the end
// is 416 InvalidRange.
//
// OSS serves one range per request ("Specify only one range per GetObject
// request", https://help.aliyun.com/en/oss/user-guide/http-status-code-416),
// so a multi-range header is an invalid range: ignored by default (200, the
// whole object, as the page on Range requests says of invalid ranges,
// https://help.aliyun.com/en/oss/how-to-obtain-oss-resources-by-segmenting-http-range-requests),
// 416 InvalidRange with the standard behaviour. Never multipart/byteranges.
// More than 50 ranges is refused before that with MultiRangeFailed (EC
// 0016-00000110; its HTTP status, 400 here, is unconfirmed).
func parseRange(h string, size int64, standard bool) (start, length int64, partial bool, err error) {
	whole := func() (int64, int64, bool, error) { return 0, size, false, nil }
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if h == "" || !ok {
		return whole()
	}
	if n := strings.Count(spec, ",") + 1; n > 1 {
		switch {
		case n > maxRanges:
			return 0, 0, false, newError("MultiRangeFailed")
		case standard:
			return 0, 0, false, newError("InvalidRange").
				with("RangeRequested", h).with("ActualObjectSize", strconv.FormatInt(size, 10))
		}
		return whole()
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return whole()
	}
	if a == "" { // suffix: the last n bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 || size == 0 || (n > size && !standard) {
			return whole()
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 {
		return whole()
	}
	last := size - 1
	if b != "" {
		if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
			return whole()
		}
	}
	if first >= size {
		if standard {
			return 0, 0, false, newError("InvalidRange").
				with("RangeRequested", h).with("ActualObjectSize", strconv.FormatInt(size, 10))
		}
		return whole()
	}
	if last >= size {
		if !standard {
			return whole()
		}
		last = size - 1
	}
	return first, last - first + 1, true, nil
}

func (rq *request) headObject() error {
	a, err := rq.s.storage.Stat(rq.bucket, rq.key)
	if errors.Is(err, errNotExist) {
		return noSuchKey(rq.key)
	}
	if err != nil {
		return err
	}
	if done, err := rq.conditional(a); done || err != nil {
		return err
	}
	rq.objectHeaders(a)
	rq.w.Header().Set("Content-Length", strconv.FormatInt(a.Size, 10))
	rq.respond(http.StatusOK)
	return nil
}

// conditional applies If-* headers: done is true once a 304 has been sent.
func (rq *request) conditional(a ObjectAttrs) (done bool, err error) {
	switch err := checkConditions(rq.r.Header, a); err.(type) {
	case nil:
		return false, nil
	case notModified:
		rq.respondNotModified(a)
		return true, nil
	default:
		return false, err
	}
}

func (rq *request) deleteObject() error {
	s := rq.s
	lk := s.keyLock(rq.bucket, rq.key)
	lk.Lock()
	err := s.storage.Delete(rq.bucket, rq.key)
	lk.Unlock()
	if err != nil {
		return err
	}
	rq.respond(http.StatusNoContent) // also for a missing key, as OSS does
	return nil
}
