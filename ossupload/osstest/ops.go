package osstest

import (
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
)

// op is an OSS operation; its String is the name used in Stats and Fault.Op.
type op int

const (
	opUnknown op = iota
	opInitiate
	opUploadPart
	opComplete
	opAbort
	opListParts
	opListUploads
	opPutObject
	opGetObject
	opHeadObject
	opGetObjectMeta
	opDeleteObject
	opListBuckets
	opNotImplemented // a real OSS operation osstest does not serve
	numOps
)

var opNames = [numOps]string{
	opUnknown:        "Unknown",
	opInitiate:       "InitiateMultipartUpload",
	opUploadPart:     "UploadPart",
	opComplete:       "CompleteMultipartUpload",
	opAbort:          "AbortMultipartUpload",
	opListParts:      "ListParts",
	opListUploads:    "ListMultipartUploads",
	opPutObject:      "PutObject",
	opGetObject:      "GetObject",
	opHeadObject:     "HeadObject",
	opGetObjectMeta:  "GetObjectMeta",
	opDeleteObject:   "DeleteObject",
	opListBuckets:    "ListBuckets",
	opNotImplemented: "NotImplemented",
}

func (o op) String() string { return opNames[o] }

func opByName(name string) (op, bool) {
	for i, n := range opNames {
		if n == name && op(i) != opUnknown && op(i) != opNotImplemented {
			return op(i), true
		}
	}
	return 0, false
}

// classify maps method + sub-resources to an operation, as OSS does: the
// sub-resources uploads, uploadId and partNumber are tested by presence (the
// SDK sends "?uploads" with no "=").
func classify(method, bucket, key string, q url.Values, h http.Header) op {
	has := func(k string) bool { _, ok := q[k]; return ok }
	if bucket == "" {
		if method == http.MethodGet {
			return opListBuckets
		}
		return opUnknown
	}
	if key == "" {
		switch {
		case method == http.MethodGet && has("uploads"):
			return opListUploads
		case method == http.MethodGet, method == http.MethodPut, method == http.MethodDelete, method == http.MethodPost:
			return opNotImplemented // ListObjects, PutBucket, DeleteBucket, DeleteMultipleObjects…
		}
		return opUnknown
	}
	switch method {
	case http.MethodPost:
		switch {
		case has("uploads"):
			return opInitiate
		case has("uploadId"):
			return opComplete
		}
		return opNotImplemented // AppendObject, PostObject, RestoreObject…
	case http.MethodPut:
		if h.Get("x-oss-copy-source") != "" {
			return opNotImplemented // CopyObject, UploadPartCopy
		}
		switch {
		case has("partNumber") || has("uploadId"):
			return opUploadPart
		case len(q) == 0:
			return opPutObject
		}
		return opNotImplemented // PutObjectACL, PutSymlink, PutObjectTagging…
	case http.MethodGet:
		switch {
		case has("uploadId"):
			return opListParts
		case has("acl"), has("symlink"), has("tagging"), has("x-oss-process"):
			return opNotImplemented
		}
		return opGetObject
	case http.MethodHead:
		if has("objectMeta") {
			return opGetObjectMeta
		}
		return opHeadObject
	case http.MethodDelete:
		if has("uploadId") {
			return opAbort
		}
		if has("tagging") {
			return opNotImplemented
		}
		return opDeleteObject
	}
	return opUnknown
}

// Stats are counters since the server started.
type Stats struct {
	Requests          map[string]int // by operation name ("UploadPart", "InitiateMultipartUpload", …), incl. failed ones
	Errors            map[string]int // by OSS error Code returned
	PartBytesReceived int64          // body bytes read by UploadPart handlers, complete or not (measures re-sent data)
}

type stats struct {
	requests  [numOps]atomic.Int64
	partBytes atomic.Int64
	mu        sync.Mutex
	errors    map[string]int
}

func (st *stats) init() { st.errors = map[string]int{} }

func (st *stats) countRequest(o op) { st.requests[o].Add(1) }

func (st *stats) countError(code string) {
	st.mu.Lock()
	st.errors[code]++
	st.mu.Unlock()
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	out := Stats{Requests: map[string]int{}, Errors: map[string]int{}}
	for i := range s.stats.requests {
		if n := s.stats.requests[i].Load(); n > 0 {
			out.Requests[op(i).String()] = int(n)
		}
	}
	s.stats.mu.Lock()
	for k, v := range s.stats.errors {
		out.Errors[k] = v
	}
	s.stats.mu.Unlock()
	out.PartBytesReceived = s.stats.partBytes.Load()
	return out
}
