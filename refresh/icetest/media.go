package icetest

import (
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// Media metadata as GetMediaInfo and SearchMedia report it. Where ICE
// documents a field's values the fake uses them: MediaBasicInfo.Status is
// Normal once the source is in place and Uploading while a new source is
// being taken in (ApsaraVideo VOD's Status table, whose storage ICE's
// upload APIs use: https://help.aliyun.com/document_detail/52839.html);
// FileBasicInfo.FileType is source_file for the source
// (https://www.alibabacloud.com/help/en/ims/developer-reference/api-ice-2020-11-09-getmediainfo).
const (
	StatusNormal    = "Normal"
	StatusUploading = "Uploading"

	// DefaultAuthTimeout is how long a FileUrl stays signed when the caller
	// gives no AuthTimeout (seconds); ICE accepts 1..MaxAuthTimeout.
	DefaultAuthTimeout = 3600
	MaxAuthTimeout     = 86400
)

// iceTime is the form of every ICE time field: UTC, seconds, "Z".
const iceTime = "2006-01-02T15:04:05Z"

// lookupMedia finds the media that MediaId names.
func (s *Server) lookupMedia(params url.Values) (*mediaRecord, *apiError) {
	id := params.Get("MediaId")
	if id == "" {
		return nil, missing("MediaId")
	}
	if !ValidMediaID(id) {
		return nil, fail(400, "InvalidParameter", "The specified parameter \"MediaId\" is not valid.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.media[id]
	if !ok {
		return nil, fail(404, "ResourceNotFound", "The specified media %s does not exist.", id)
	}
	cp := *m
	return &cp, nil
}

// lookupInputURL matches an OSS URL to a media's bucket and object. It
// takes the forms ICE hands out and accepts: oss://bucket/key,
// http(s)://bucket.host/key, and path style http(s)://host/bucket/key for
// IP hosts; any query (a signature) is ignored.
func (s *Server) lookupInputURL(raw string) (*mediaRecord, *apiError) {
	bad := fail(400, "InvalidParameter", "The specified parameter \"InputURL\" is not valid.")
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, bad
	}
	var bucket, key string
	switch {
	case u.Scheme == "oss":
		bucket, key = u.Host, strings.TrimPrefix(u.Path, "/")
	case u.Scheme == "http" || u.Scheme == "https":
		if ip := net.ParseIP(u.Hostname()); ip != nil || u.Hostname() == "localhost" {
			bucket, key, _ = strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
		} else {
			bucket, _, _ = strings.Cut(u.Hostname(), ".")
			key = strings.TrimPrefix(u.Path, "/")
		}
	default:
		return nil, bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.media {
		if m.Bucket == bucket && m.Object == key {
			cp := *m
			return &cp, nil
		}
	}
	return nil, fail(404, "ResourceNotFound", "The specified media of InputURL %s does not exist.", raw)
}

// observe brings a media's file state up to date with the object store and
// returns a copy. A changed object (size or LastModified) is taken in only
// once MediaLag has passed since its LastModified; until then the media is
// Uploading and keeps reporting the old file.
func (s *Server) observe(m *mediaRecord, now time.Time) mediaRecord {
	var st ObjectStat
	var ok bool
	if s.opts.Store != nil {
		st, ok = s.opts.Store.StatObject(m.Bucket, m.Object)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.media[m.ID]
	if rec == nil {
		return *m
	}
	switch {
	case !ok || (st.Size == rec.file.Size && st.LastModified.Equal(rec.file.LastModified)):
		rec.uploading = false
	case now.Before(st.LastModified.Add(s.opts.MediaLag)):
		rec.uploading = true
	default:
		rec.file, rec.uploading = st, false
		if st.LastModified.After(rec.modified) {
			rec.modified = st.LastModified.UTC()
		}
	}
	return *rec
}

// objectURL is the unsigned URL of an object behind OSSEndpoint: path style
// for IP hosts (no DNS for them), virtual-hosted style otherwise.
func (s *Server) objectURL(bucket, object string) string {
	u, err := url.Parse(s.opts.OSSEndpoint)
	if err != nil || u.Host == "" {
		return s.opts.OSSEndpoint + "/" + bucket + "/" + object
	}
	obj := (&url.URL{Path: object}).EscapedPath()
	if ip := net.ParseIP(u.Hostname()); ip != nil || u.Hostname() == "localhost" {
		return u.Scheme + "://" + u.Host + "/" + bucket + "/" + obj
	}
	return u.Scheme + "://" + bucket + "." + u.Host + "/" + obj
}

// formatName is ffprobe's format_name for a file extension, which ICE
// reports as FormatName.
func formatName(object string) string {
	switch strings.ToLower(path.Ext(object)) {
	case ".mp4", ".mov", ".m4a", ".m4v", ".3gp":
		return "mov,mp4,m4a,3gp,3g2,mj2"
	case ".flv":
		return "flv"
	case ".mkv", ".webm":
		return "matroska,webm"
	case ".ts":
		return "mpegts"
	case ".mp3":
		return "mp3"
	}
	return ""
}

// mediaInfo renders MediaInfo for a media record, with FileUrl signed until
// expires. The fake does not analyse content: Duration, Width and Height
// are the seeded ones, Bitrate follows from the current size and Duration.
func (s *Server) mediaInfo(m mediaRecord, expires time.Time) map[string]any {
	inputURL := s.objectURL(m.Bucket, m.Object)
	fileURL := inputURL
	if s.opts.Presigner != nil {
		fileURL = s.opts.Presigner.PresignGetURL(m.Bucket, m.Object, expires)
	}
	status := StatusNormal
	if m.uploading {
		status = StatusUploading
	}
	var duration, bitrate string
	if m.Duration > 0 {
		duration = strconv.FormatFloat(m.Duration, 'f', 3, 64)
		bitrate = strconv.FormatFloat(float64(m.file.Size)*8/m.Duration/1000, 'f', 3, 64)
	}
	dim := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	fileModified := m.created
	if !m.file.LastModified.IsZero() {
		fileModified = m.file.LastModified
	}
	return map[string]any{
		"MediaId": m.ID,
		"MediaBasicInfo": map[string]any{
			"MediaId":      m.ID,
			"InputURL":     inputURL,
			"MediaType":    "video",
			"BusinessType": "general",
			"Source":       "oss",
			"UploadSource": "general",
			"Status":       status,
			"Title":        m.Title,
			"Description":  m.Description,
			"CoverURL":     m.CoverURL,
			"Category":     "",
			"MediaTags":    "",
			"UserData":     "",
			"CreateTime":   m.created.UTC().Format(iceTime),
			"ModifiedTime": m.modified.UTC().Format(iceTime),
		},
		"FileInfoList": []any{map[string]any{
			"FileBasicInfo": map[string]any{
				"FileName":     path.Base(m.Object),
				"FileSize":     strconv.FormatInt(m.file.Size, 10),
				"FileType":     "source_file",
				"FileStatus":   StatusNormal,
				"FileUrl":      fileURL,
				"Region":       s.opts.Region,
				"FormatName":   formatName(m.Object),
				"Duration":     duration,
				"Bitrate":      bitrate,
				"Width":        dim(m.Width),
				"Height":       dim(m.Height),
				"CreateTime":   m.created.UTC().Format(iceTime),
				"ModifiedTime": fileModified.UTC().Format(iceTime),
			},
		}},
	}
}

// authTimeout reads AuthTimeout (seconds), the life of signed URLs.
func authTimeout(params url.Values) (time.Duration, *apiError) {
	v := params.Get("AuthTimeout")
	if v == "" {
		return DefaultAuthTimeout * time.Second, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxAuthTimeout {
		return 0, fail(400, "InvalidParameter", "The specified parameter \"AuthTimeout\" is not valid; want 1..%d seconds.", MaxAuthTimeout)
	}
	return time.Duration(n) * time.Second, nil
}

func (s *Server) getMediaInfo(_ *http.Request, params url.Values, _ *Fault) (map[string]any, *apiError) {
	ttl, apiErr := authTimeout(params)
	if apiErr != nil {
		return nil, apiErr
	}
	// MediaId wins over InputURL, as the API page says.
	var m *mediaRecord
	if params.Get("MediaId") == "" && params.Get("InputURL") != "" {
		m, apiErr = s.lookupInputURL(params.Get("InputURL"))
	} else {
		m, apiErr = s.lookupMedia(params)
	}
	if apiErr != nil {
		return nil, apiErr
	}
	now := s.opts.Now()
	return map[string]any{"MediaInfo": s.mediaInfo(s.observe(m, now), now.Add(ttl))}, nil
}
