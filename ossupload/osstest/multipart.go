package osstest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reupload/reupload/internal/crc64x"
)

const (
	minPartSize = 100 * 1024 // every part but the last, checked at Complete
	maxPartSize = 5 << 30
	maxParts    = 10000
)

type upload struct {
	id, bucket, key string
	initiated       time.Time
	contentType     string
	meta            map[string]string
	parts           map[int]*part // guarded by Server.mu; a *part never changes
}

type part struct {
	id       string // Storage name
	number   int
	md5      [md5.Size]byte
	crc      uint64
	size     int64
	modified time.Time
}

func (p *part) etag() string { return quotedHex(p.md5[:]) }

// UploadInfo describes an upload that is neither completed nor aborted.
type UploadInfo struct {
	Bucket, Key, UploadID string
	Initiated             time.Time
	Parts                 int
	Bytes                 int64
}

// Uploads lists the bucket's uploads in progress, by key then age.
func (s *Server) Uploads(bucket string) []UploadInfo {
	s.mu.RLock()
	var out []UploadInfo
	for _, u := range s.uploads {
		if u.bucket != bucket {
			continue
		}
		info := UploadInfo{Bucket: u.bucket, Key: u.key, UploadID: u.id, Initiated: u.initiated, Parts: len(u.parts)}
		for _, p := range u.parts {
			info.Bytes += p.size
		}
		out = append(out, info)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b UploadInfo) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.UploadID, b.UploadID)
	})
	return out
}

// newUploadID returns 32 upper-hex characters that sort in creation order,
// which ListMultipartUploads relies on.
func (s *Server) newUploadID() string {
	var b [32]byte
	copy(b[:8], s.idPrefix)
	putHex(b[8:24], s.uploadSeq.Add(1))
	var r [4]byte
	copy(r[:], randomString(4))
	putHex(b[24:], uint64(r[0])<<24|uint64(r[1])<<16|uint64(r[2])<<8|uint64(r[3]))
	return string(b[:])
}

func (s *Server) newPartID() string {
	var b [24]byte
	copy(b[:8], s.idPrefix)
	putHex(b[8:], s.partSeq.Add(1))
	return string(b[:])
}

// lookupUpload finds an upload of this request's object.
func (rq *request) lookupUpload(id string) (*upload, error) {
	rq.s.mu.RLock()
	u := rq.s.uploads[id]
	rq.s.mu.RUnlock()
	if u == nil || u.bucket != rq.bucket || u.key != rq.key {
		return nil, noSuchUpload(id)
	}
	return u, nil
}

func noSuchUpload(id string) *ossError { return newError("NoSuchUpload").with("UploadId", id) }

func (rq *request) initiateMultipartUpload() error {
	s := rq.s
	if err := checkKey(rq.key); err != nil {
		return err
	}
	if forbidOverwrite(rq.r) {
		if _, err := s.storage.Stat(rq.bucket, rq.key); err == nil {
			return newError("FileAlreadyExists")
		}
	}
	u := &upload{
		id:          s.newUploadID(),
		bucket:      rq.bucket,
		key:         rq.key,
		initiated:   s.now(),
		contentType: contentType(rq.r),
		meta:        userMeta(rq.r.Header),
		parts:       map[int]*part{},
	}
	s.mu.Lock()
	s.uploads[u.id] = u
	s.mu.Unlock()
	enc, key := rq.encodeKey(rq.key)
	rq.writeXML(marshalXML(struct {
		XMLName      xml.Name `xml:"InitiateMultipartUploadResult"`
		Bucket       string
		Key          string
		UploadId     string
		EncodingType string `xml:",omitempty"`
	}{Bucket: rq.bucket, Key: key, UploadId: u.id, EncodingType: enc}))
	return nil
}

func (rq *request) uploadPart() error {
	s, r := rq.s, rq.r
	numStr := rq.query.Get("partNumber")
	num, err := strconv.Atoi(numStr)
	if err != nil || num < 1 || num > maxParts {
		e := newErrorMsg("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.").
			with("ArgumentName", "partNumber").with("ArgumentValue", numStr)
		e.ec = "0017-00000220"
		return e
	}
	id := rq.query.Get("uploadId")
	u, err := rq.lookupUpload(id)
	if err != nil {
		return err
	}
	if r.ContentLength > maxPartSize {
		return newError("EntityTooLarge")
	}
	wantMD5, err := contentMD5(r)
	if err != nil {
		return err
	}
	p, err := rq.receive(wantMD5)
	if err != nil {
		return err
	}
	p.number = num

	s.mu.Lock()
	live := s.uploads[id] == u
	var old *part
	if live {
		old = u.parts[num]
		u.parts[num] = p
	}
	s.mu.Unlock()
	if !live { // aborted or completed while the body streamed in
		s.storage.DeletePart(p.id)
		return noSuchUpload(id)
	}
	if old != nil {
		s.storage.DeletePart(old.id)
	}
	h := rq.w.Header()
	h.Set("ETag", p.etag())
	h.Set("Content-MD5", b64(p.md5[:]))
	rq.setCRC(p.crc)
	h.Set("Content-Length", "0")
	rq.respond(http.StatusOK)
	return nil
}

// completeXML is the body of CompleteMultipartUpload.
type completeXML struct {
	XMLName xml.Name `xml:"CompleteMultipartUpload"`
	Parts   []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
	} `xml:"Part"`
}

func (rq *request) completeMultipartUpload() error {
	s, r := rq.s, rq.r
	id := rq.query.Get("uploadId")
	body, err := readBody(r, 4<<20)
	if err != nil {
		return err
	}
	completeAll := strings.EqualFold(r.Header.Get("x-oss-complete-all"), "yes")
	var req completeXML
	if completeAll {
		if len(bytes.TrimSpace(body)) > 0 {
			return newErrorMsg("InvalidArgument", "Should not specify both complete-all header and complete body.")
		}
	} else if err := xml.Unmarshal(body, &req); err != nil {
		return newError("MalformedXML")
	}
	if len(req.Parts) > maxParts {
		return newErrorMsg("InvalidArgument", "The number of parts must not exceed 10000.")
	}
	if _, err := rq.lookupUpload(id); err != nil {
		return err
	}

	// Writers of one key queue here, so the forbid-overwrite check holds
	// until the commit lands.
	lk := s.keyLock(rq.bucket, rq.key)
	lk.Lock()
	defer lk.Unlock()
	if forbidOverwrite(r) {
		if _, err := s.storage.Stat(rq.bucket, rq.key); err == nil {
			return newError("FileAlreadyExists")
		}
	}

	s.mu.Lock()
	u := s.uploads[id]
	if u == nil || u.bucket != rq.bucket || u.key != rq.key {
		s.mu.Unlock()
		return noSuchUpload(id)
	}
	var chosen []*part
	if completeAll {
		for _, p := range u.parts {
			chosen = append(chosen, p)
		}
		slices.SortFunc(chosen, func(a, b *part) int { return a.number - b.number })
	} else {
		var err error
		if chosen, err = u.choose(req); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	delete(s.uploads, id) // from here on the upload is gone for everyone else
	s.mu.Unlock()

	// S3-style ETag: MD5 of the binary part MD5s, then "-count".
	sums := md5.New()
	var crc uint64
	var size int64
	ids := make([]string, len(chosen))
	for i, p := range chosen {
		sums.Write(p.md5[:])
		crc = crc64x.Combine(crc, p.crc, p.size)
		size += p.size
		ids[i] = p.id
	}
	etag := `"` + strings.ToUpper(hex.EncodeToString(sums.Sum(nil))) + "-" + strconv.Itoa(len(chosen)) + `"`
	attrs := ObjectAttrs{
		ObjectInfo:  ObjectInfo{Size: size, ETag: etag, CRC64: crc, LastModified: s.now()},
		ContentType: u.contentType,
		Meta:        u.meta,
		Multipart:   true,
	}
	if err := s.storage.Commit(rq.bucket, rq.key, ids, attrs); err != nil {
		s.mu.Lock()
		s.uploads[id] = u // nothing happened: the client may try again
		s.mu.Unlock()
		return storageError(err)
	}
	used := make(map[string]bool, len(ids))
	for _, pid := range ids {
		used[pid] = true
	}
	for _, p := range u.parts {
		if !used[p.id] {
			s.storage.DeletePart(p.id)
		}
	}

	enc, key := rq.encodeKey(rq.key)
	location := "http://" + r.Host + "/" + rq.key
	if !rq.virtual {
		location = "http://" + r.Host + "/" + rq.bucket + "/" + rq.key
	}
	h := rq.w.Header()
	h.Set("ETag", etag)
	rq.setCRC(crc)
	rq.writeXML(marshalXML(struct {
		XMLName      xml.Name `xml:"CompleteMultipartUploadResult"`
		EncodingType string   `xml:",omitempty"`
		Location     string
		Bucket       string
		Key          string
		ETag         string
	}{EncodingType: enc, Location: location, Bucket: rq.bucket, Key: key, ETag: etag}))
	return nil
}

// choose checks Complete's part list, in OSS's order: ascending numbers
// (InvalidPartOrder), then each part present with its ETag (InvalidPart),
// then every part but the last at least 100 KiB (EntityTooSmall).
// The caller holds Server.mu.
func (u *upload) choose(req completeXML) ([]*part, error) {
	prev := 0
	for _, want := range req.Parts {
		if want.PartNumber <= prev {
			return nil, newError("InvalidPartOrder")
		}
		prev = want.PartNumber
	}
	chosen := make([]*part, len(req.Parts))
	for i, want := range req.Parts {
		p := u.parts[want.PartNumber]
		if p == nil || !etagMatch(p.etag(), want.ETag) {
			return nil, newError("InvalidPart")
		}
		chosen[i] = p
	}
	for _, p := range chosen[:max(len(chosen)-1, 0)] {
		if p.size < minPartSize {
			return nil, newError("EntityTooSmall").
				with("MinSizeAllowed", strconv.Itoa(minPartSize)).
				with("ProposedSize", strconv.FormatInt(p.size, 10)).
				with("PartNumber", strconv.Itoa(p.number))
		}
	}
	return chosen, nil
}

func etagMatch(have, want string) bool {
	return strings.EqualFold(strings.Trim(have, `"`), strings.Trim(strings.TrimSpace(want), `"`))
}

func (rq *request) abortMultipartUpload() error {
	s := rq.s
	id := rq.query.Get("uploadId")
	s.mu.Lock()
	u := s.uploads[id]
	if u == nil || u.bucket != rq.bucket || u.key != rq.key {
		s.mu.Unlock()
		return noSuchUpload(id)
	}
	delete(s.uploads, id)
	s.mu.Unlock()
	for _, p := range u.parts {
		s.storage.DeletePart(p.id)
	}
	rq.respond(http.StatusNoContent)
	return nil
}

// intParam parses an optional integer parameter: below lo is an error, above hi is capped.
func (rq *request) intParam(name string, def, lo, hi int) (int, error) {
	v, ok := rq.query[name]
	if !ok || v[0] == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < lo {
		return 0, newErrorMsg("InvalidArgument", "Argument "+name+" is invalid.").
			with("ArgumentName", name).with("ArgumentValue", v[0])
	}
	return min(n, hi), nil
}

type xmlPart struct {
	PartNumber    int
	LastModified  string
	ETag          string
	HashCrc64ecma uint64
	Size          int64
}

func (rq *request) listParts() error {
	s := rq.s
	id := rq.query.Get("uploadId")
	maxP, err := rq.intParam("max-parts", 1000, 1, 1000)
	if err != nil {
		return err
	}
	marker, err := rq.intParam("part-number-marker", 0, 0, maxParts)
	if err != nil {
		return err
	}
	u, err := rq.lookupUpload(id)
	if err != nil {
		return err
	}
	s.mu.RLock()
	parts := make([]*part, 0, len(u.parts))
	for n, p := range u.parts {
		if n > marker {
			parts = append(parts, p)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(parts, func(a, b *part) int { return a.number - b.number })
	truncated := len(parts) > maxP
	if truncated {
		parts = parts[:maxP]
	}
	next := marker
	if len(parts) > 0 {
		next = parts[len(parts)-1].number
	}
	out := make([]xmlPart, len(parts))
	for i, p := range parts {
		out[i] = xmlPart{PartNumber: p.number, LastModified: isoTime(p.modified), ETag: p.etag(), HashCrc64ecma: p.crc, Size: p.size}
	}
	enc, key := rq.encodeKey(rq.key)
	rq.writeXML(marshalXML(struct {
		XMLName              xml.Name `xml:"ListPartsResult"`
		Bucket               string
		EncodingType         string `xml:",omitempty"`
		Key                  string
		UploadId             string
		StorageClass         string
		PartNumberMarker     int
		NextPartNumberMarker int
		MaxParts             int
		IsTruncated          bool
		Parts                []xmlPart `xml:"Part"`
	}{xml.Name{}, rq.bucket, enc, key, id, "Standard", marker, next, maxP, truncated, out}))
	return nil
}

type xmlUpload struct {
	Key          string
	UploadId     string
	StorageClass string
	Initiated    string
}

type xmlPrefix struct {
	Prefix string
}

func (rq *request) listMultipartUploads() error {
	q := rq.query
	maxU, err := rq.intParam("max-uploads", 1000, 1, 1000)
	if err != nil {
		return err
	}
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	all := rq.s.Uploads(rq.bucket) // sorted by key, then upload ID = age

	var uploads []xmlUpload
	var prefixes []xmlPrefix
	var nextKey, nextID string
	truncated := false
	lastPrefix := ""
	for _, u := range all {
		if !strings.HasPrefix(u.Key, prefix) {
			continue
		}
		switch {
		case keyMarker == "":
		case u.Key > keyMarker:
			if delim != "" && strings.HasSuffix(keyMarker, delim) && strings.HasPrefix(u.Key, keyMarker) {
				continue // inside a common prefix already returned
			}
		case u.Key == keyMarker && idMarker != "" && u.UploadID > idMarker:
		default:
			continue
		}
		cp := ""
		if delim != "" {
			if i := strings.Index(u.Key[len(prefix):], delim); i >= 0 {
				cp = u.Key[:len(prefix)+i+len(delim)]
			}
		}
		if cp != "" && cp == lastPrefix {
			continue
		}
		if len(uploads)+len(prefixes) == maxU {
			truncated = true
			break
		}
		if cp != "" {
			lastPrefix = cp
			prefixes = append(prefixes, xmlPrefix{cp})
			nextKey, nextID = cp, ""
			continue
		}
		uploads = append(uploads, xmlUpload{Key: u.Key, UploadId: u.UploadID, StorageClass: "Standard", Initiated: isoTime(u.Initiated)})
		nextKey, nextID = u.Key, u.UploadID
	}
	if !truncated {
		nextKey, nextID = "", ""
	}
	enc := ""
	if strings.EqualFold(q.Get("encoding-type"), "url") {
		enc = "url"
		for i := range uploads {
			uploads[i].Key = url.QueryEscape(uploads[i].Key)
		}
		for i := range prefixes {
			prefixes[i].Prefix = url.QueryEscape(prefixes[i].Prefix)
		}
		prefix, delim = url.QueryEscape(prefix), url.QueryEscape(delim)
		keyMarker, nextKey = url.QueryEscape(keyMarker), url.QueryEscape(nextKey)
	}
	rq.writeXML(marshalXML(struct {
		XMLName            xml.Name `xml:"ListMultipartUploadsResult"`
		Bucket             string
		EncodingType       string `xml:",omitempty"`
		KeyMarker          string
		UploadIdMarker     string
		NextKeyMarker      string
		NextUploadIdMarker string
		Delimiter          string
		Prefix             string
		MaxUploads         int
		IsTruncated        bool
		Uploads            []xmlUpload `xml:"Upload"`
		CommonPrefixes     []xmlPrefix `xml:"CommonPrefixes"`
	}{xml.Name{}, rq.bucket, enc, keyMarker, idMarker, nextKey, nextID, delim, prefix, maxU, truncated, uploads, prefixes}))
	return nil
}

// encodeKey applies encoding-type=url to a key, as the SDK expects (it
// url.QueryUnescapes the Key of ListParts).
func (rq *request) encodeKey(key string) (encoding, out string) {
	if strings.EqualFold(rq.query.Get("encoding-type"), "url") {
		return "url", url.QueryEscape(key)
	}
	return "", key
}

// isoTime is OSS's XML time format, which the SDK decodes into time.Time.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func marshalXML(v any) []byte {
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		panic("osstest: marshal XML: " + err.Error()) // only fixed structs of strings and numbers reach here
	}
	return append([]byte(xml.Header), b...)
}
