package ossupload

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/reupload/reupload/internal/endpoint"
	"github.com/reupload/reupload/internal/nofollow"
)

// SDKConfig tunes the SDK adapter.
type SDKConfig struct {
	ConnectTimeout time.Duration // 0 means 10s
	IdleTimeout    time.Duration // a connection on which nothing moves this long fails (noticed after 15/16 of it to all of it); 0 means 60s
	UserAgent      string        // "" means "reupload"
	// HTTPClient sends the requests (a proxy, a custom CA); nil means a
	// client of the adapter's own with ConnectTimeout and IdleTimeout. A
	// caller's client brings its own timeouts: the adapter applies none to it.
	HTTPClient *http.Client
	// Logger, when it is enabled for Debug, hears one record per HTTP
	// request: the OSS operation, bucket, key, part, status, duration and
	// x-oss-request-id (never a header or query value that signs it).
	Logger *slog.Logger
}

// CredentialsSource hands the SDK the current credential on every request,
// so a refresh takes effect on the very next request of every part.
type CredentialsSource interface {
	Current() Credentials
}

type sdkCreds struct{ c Credentials }

func (s sdkCreds) GetAccessKeyID() string     { return s.c.AccessKeyID }
func (s sdkCreds) GetAccessKeySecret() string { return s.c.AccessKeySecret }
func (s sdkCreds) GetSecurityToken() string   { return s.c.SecurityToken }

type sdkProvider struct{ src CredentialsSource }

func (p sdkProvider) GetCredentials() oss.Credentials { return sdkCreds{p.src.Current()} }

// StaticCredentials is a CredentialsSource that never changes.
type StaticCredentials Credentials

// Current returns c.
func (c StaticCredentials) Current() Credentials { return Credentials(c) }

// CheckEndpoint accepts https endpoints, and plain http only on loopback, so
// that an STS credential never crosses a network in clear text.
func CheckEndpoint(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("bad OSS endpoint %q: want https://host[:port]", endpoint)
	}
	if u.Scheme == "http" && !IsLoopback(u.Hostname()) {
		return nil, fmt.Errorf("refusing plain-http OSS endpoint %q: credentials would travel unencrypted; use https (plain http is allowed only on loopback)", endpoint)
	}
	return u, nil
}

// IsLoopback reports whether host is localhost or a loopback IP (see
// internal/endpoint, the one home of the rule).
func IsLoopback(host string) bool { return endpoint.IsLoopback(host) }

// RegionFromEndpoint derives the OSS region id from a standard endpoint such
// as oss-cn-shanghai.aliyuncs.com or oss-cn-shanghai-internal.aliyuncs.com
// (see internal/endpoint).
func RegionFromEndpoint(host string) string { return endpoint.OSSRegion(host) }

type sdkAPI struct {
	bucket *oss.Bucket
	own    *http.Client // the adapter's own client; nil when the caller brought one
}

// Close closes the idle connections of the adapter's own client, so that a
// batch does not keep every finished upload's connections open until they
// time out. A caller's HTTPClient is left alone: others may share it.
func (a *sdkAPI) Close() error {
	if a.own != nil {
		a.own.CloseIdleConnections()
	}
	return nil
}

var _ PartAPI = (*sdkAPI)(nil)

// NewOSSAPI returns a PartAPI over the official SDK for t's bucket, signing
// every request (V4 when the region is known, else V1) with whatever creds
// returns at that moment.
func NewOSSAPI(t Target, creds CredentialsSource, cfg SDKConfig) (PartAPI, error) {
	u, err := CheckEndpoint(t.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "reupload"
	}
	region := t.Region
	if region == "" {
		region = RegionFromEndpoint(u.Hostname())
	}
	hc, own := cfg.HTTPClient, (*http.Client)(nil)
	if hc == nil {
		hc = newHTTPClient(cfg.ConnectTimeout, cfg.IdleTimeout)
		own = hc
	}
	// OSS never redirects an API call; a followed redirect would carry the
	// signature and the STS token to the Location's host. A caller's client
	// is copied, not changed.
	hc = nofollow.Client(hc)
	if cfg.Logger != nil && cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
		next := hc.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		hc.Transport = &loggingTransport{next: next, log: cfg.Logger}
	}
	opts := []oss.ClientOption{
		oss.SetCredentialsProvider(sdkProvider{creds}),
		oss.EnableCRC(false), // the engine hashes once and checks OSS's CRC header itself
		oss.UserAgent(cfg.UserAgent),
		oss.HTTPClient(hc),
	}
	if region != "" {
		opts = append(opts, oss.AuthVersion(oss.AuthV4), oss.Region(region))
	}
	client, err := oss.New(u.Scheme+"://"+u.Host, "", "", opts...)
	if err != nil {
		return nil, fmt.Errorf("oss client for %s: %w", t.Endpoint, err)
	}
	b, err := client.Bucket(t.Bucket)
	if err != nil {
		return nil, fmt.Errorf("oss bucket %q: %w", t.Bucket, err)
	}
	return &sdkAPI{bucket: b, own: own}, nil
}

func imur(bucket, key, uploadID string) oss.InitiateMultipartUploadResult {
	return oss.InitiateMultipartUploadResult{Bucket: bucket, Key: key, UploadID: uploadID}
}

func (a *sdkAPI) InitiateMultipartUpload(ctx context.Context, key string) (string, error) {
	r, err := a.bucket.InitiateMultipartUpload(key, oss.WithContext(ctx))
	if err != nil {
		return "", fromSDK("InitiateMultipartUpload", err)
	}
	return r.UploadID, nil
}

func (a *sdkAPI) UploadPart(ctx context.Context, in PartInput) (PartOutput, error) {
	if in.Size == 0 {
		return a.uploadEmptyPart(ctx, in)
	}
	var h http.Header
	opts := []oss.Option{oss.WithContext(ctx), oss.GetResponseHeader(&h)}
	if in.ContentMD5 != "" {
		opts = append(opts, oss.ContentMD5(in.ContentMD5))
	}
	p, err := a.bucket.UploadPart(imur(a.bucket.BucketName, in.Key, in.UploadID), in.Body, in.Size, in.PartNumber, opts...)
	if err != nil {
		return PartOutput{}, fromSDK("UploadPart", err)
	}
	out := PartOutput{ETag: p.ETag}
	out.CRC64, out.HasCRC = crcHeader(h)
	return out, nil
}

// uploadEmptyPart sends a zero-byte part (the whole of an empty source). The
// SDK's UploadPart always wraps the body, which makes net/http send it
// chunked, and OSS answers 411 MissingContentLength; a nil body goes out with
// Content-Length: 0.
func (a *sdkAPI) uploadEmptyPart(ctx context.Context, in PartInput) (PartOutput, error) {
	params := map[string]interface{}{"partNumber": strconv.Itoa(in.PartNumber), "uploadId": in.UploadID}
	resp, err := a.bucket.Client.Conn.DoWithContext(ctx, "PUT", a.bucket.BucketName, in.Key, params, map[string]string{}, nil, 0, nil)
	if err != nil {
		return PartOutput{}, fromSDK("UploadPart", err)
	}
	resp.Body.Close()
	out := PartOutput{ETag: resp.Headers.Get("ETag")}
	out.CRC64, out.HasCRC = crcHeader(resp.Headers)
	return out, nil
}

func crcHeader(h http.Header) (uint64, bool) {
	v := h.Get("X-Oss-Hash-Crc64ecma")
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil
}

// ListParts pages through ListParts itself rather than through the SDK's
// ListUploadedParts, whose UploadedPart drops the HashCrc64ecma that OSS
// lists with every part (the ListParts API reference's response example).
func (a *sdkAPI) ListParts(ctx context.Context, key, uploadID string) ([]ListedPart, error) {
	var out []ListedPart
	marker := ""
	for {
		params := map[string]interface{}{"uploadId": uploadID, "max-parts": "1000", "encoding-type": "url"}
		if marker != "" {
			params["part-number-marker"] = marker
		}
		resp, err := a.bucket.Client.Conn.DoWithContext(ctx, "GET", a.bucket.BucketName, key, params, map[string]string{}, nil, 0, nil)
		if err != nil {
			return nil, fromSDK("ListParts", err)
		}
		var r listPartsResult
		err = xml.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&r)
		resp.Body.Close()
		if err != nil {
			return nil, &OSSError{Op: "ListParts", Status: resp.StatusCode, Code: "MalformedResponse",
				Message: "cannot read the ListParts answer: " + err.Error(), RequestID: resp.Headers.Get("X-Oss-Request-Id")}
		}
		for _, p := range r.Parts {
			lp := ListedPart{PartNumber: p.PartNumber, ETag: p.ETag, Size: p.Size}
			if p.CRC != "" {
				lp.CRC64, err = strconv.ParseUint(p.CRC, 10, 64)
				lp.HasCRC = err == nil
			}
			out = append(out, lp)
		}
		if !r.IsTruncated || r.NextPartNumberMarker == "" || r.NextPartNumberMarker == marker {
			return out, nil
		}
		marker = r.NextPartNumberMarker
	}
}

// listPartsResult is the ListParts answer, HashCrc64ecma included.
type listPartsResult struct {
	IsTruncated          bool   `xml:"IsTruncated"`
	NextPartNumberMarker string `xml:"NextPartNumberMarker"`
	Parts                []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
		Size       int64  `xml:"Size"`
		CRC        string `xml:"HashCrc64ecma"`
	} `xml:"Part"`
}

func (a *sdkAPI) CompleteMultipartUpload(ctx context.Context, key, uploadID string, parts []CompletedPart) (ObjectInfo, error) {
	ps := make([]oss.UploadPart, len(parts))
	for i, p := range parts {
		ps[i] = oss.UploadPart{PartNumber: p.PartNumber, ETag: p.ETag}
	}
	var h http.Header
	r, err := a.bucket.CompleteMultipartUpload(imur(a.bucket.BucketName, key, uploadID), ps, oss.WithContext(ctx), oss.GetResponseHeader(&h))
	if err != nil {
		return ObjectInfo{}, fromSDK("CompleteMultipartUpload", err)
	}
	info := ObjectInfo{Size: -1, ETag: r.ETag}
	info.CRC64, info.HasCRC = crcHeader(h)
	return info, nil
}

func (a *sdkAPI) AbortMultipartUpload(ctx context.Context, key, uploadID string) error {
	return fromSDK("AbortMultipartUpload", a.bucket.AbortMultipartUpload(imur(a.bucket.BucketName, key, uploadID), oss.WithContext(ctx)))
}

func (a *sdkAPI) HeadObject(ctx context.Context, key string) (ObjectInfo, error) {
	h, err := a.bucket.GetObjectDetailedMeta(key, oss.WithContext(ctx))
	if err != nil {
		return ObjectInfo{}, fromSDK("HeadObject", err)
	}
	info := ObjectInfo{Size: -1, ETag: h.Get("ETag")}
	if n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil {
		info.Size = n
	}
	info.CRC64, info.HasCRC = crcHeader(h)
	return info, nil
}

// loggingTransport logs every OSS request at Debug level, after its answer's
// headers arrive (or it fails). It logs the operation told from the method
// and sub-resource, never the URL's query or any header but
// x-oss-request-id: a presigned URL's query and the Authorization header
// are credentials.
type loggingTransport struct {
	next http.RoundTripper
	log  *slog.Logger
}

func (t *loggingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	began := time.Now()
	resp, err := t.next.RoundTrip(req)
	q := req.URL.Query()
	attrs := []slog.Attr{slog.String("op", ossOperation(req.Method, q)), slog.String("host", req.URL.Host),
		slog.String("path", req.URL.Path)}
	if n := q.Get("partNumber"); n != "" {
		attrs = append(attrs, slog.String("part", n))
	}
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode), slog.String("request_id", resp.Header.Get("X-Oss-Request-Id")))
	}
	attrs = append(attrs, slog.Duration("duration", time.Since(began)))
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	t.log.LogAttrs(req.Context(), slog.LevelDebug, "oss request", attrs...)
	return resp, err
}

// ossOperation names the OSS API operation of a request.
func ossOperation(method string, q url.Values) string {
	has := func(k string) bool { _, ok := q[k]; return ok }
	switch {
	case method == http.MethodPost && has("uploads"):
		return "InitiateMultipartUpload"
	case method == http.MethodGet && has("uploads"):
		return "ListMultipartUploads"
	case method == http.MethodPut && has("partNumber"):
		return "UploadPart"
	case method == http.MethodPost && has("uploadId"):
		return "CompleteMultipartUpload"
	case method == http.MethodDelete && has("uploadId"):
		return "AbortMultipartUpload"
	case method == http.MethodGet && has("uploadId"):
		return "ListParts"
	case method == http.MethodHead:
		return "HeadObject"
	case method == http.MethodGet && has("objectMeta"):
		return "GetObjectMeta"
	case method == http.MethodGet:
		return "GetObject"
	case method == http.MethodPut:
		return "PutObject"
	case method == http.MethodDelete:
		return "DeleteObject"
	}
	return method
}
