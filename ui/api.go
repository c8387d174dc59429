package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/refresh"
	"github.com/reupload/reupload/resume"
)

func (s *Server) routes() {
	m := http.NewServeMux()
	m.Handle("GET /", s.static)
	m.HandleFunc("GET /api/search", s.search)
	m.HandleFunc("GET /api/media/{id}", s.media)
	m.HandleFunc("GET /api/files", s.files)
	m.HandleFunc("POST /api/spool", s.spool)
	m.HandleFunc("POST /api/preview", s.preview)
	m.HandleFunc("GET /api/jobs", s.listJobs)
	m.HandleFunc("POST /api/jobs", s.startJob)
	m.HandleFunc("POST /api/jobs/{id}/pause", s.pauseJob)
	m.HandleFunc("POST /api/jobs/{id}/resume", s.resumeJob)
	m.HandleFunc("GET /api/pending", s.pending)
	m.HandleFunc("POST /api/pending/{id}/resume", s.resumePending)
	m.HandleFunc("POST /api/pending/{id}/abort", s.abortPending)
	m.HandleFunc("GET /api/events", s.events)
	s.mux = m
}

// apiError is a failure as the page receives it: one line, scrubbed of
// secrets (reupload.OneLine), with the code and request id to quote.
type apiError struct {
	Error     string `json:"error"`
	Code      string `json:"code,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) fail(w http.ResponseWriter, status int, err error) {
	code, reqID := reupload.ErrorCode(err)
	var ae *refresh.APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
		status = http.StatusNotFound
	}
	msg := s.cfg.Backend.Scrub(err.Error())
	s.logger.Info("request failed", "code", code, "request_id", reqID, "err", msg)
	writeJSON(w, status, apiError{Error: msg, Code: code, RequestID: reqID})
}

// mediaView is a media as the page sees it: no signed URLs (FileURL,
// InputURL, CoverURL sign for a limited time; they are credentials of sorts).
type mediaView struct {
	MediaID  string  `json:"media_id"`
	Title    string  `json:"title"`
	Status   string  `json:"status"`
	Size     int64   `json:"size"`
	Duration float64 `json:"duration"`
	Format   string  `json:"format,omitempty"`
	Width    int64   `json:"width,omitempty"`
	Height   int64   `json:"height,omitempty"`
	Modified string  `json:"modified,omitempty"`
	Busy     bool    `json:"busy,omitempty"` // being replaced in this session
}

func (s *Server) view(m *refresh.MediaInfo) mediaView {
	v := mediaView{MediaID: m.MediaID, Title: m.Title, Status: m.Status, Modified: m.ModifiedTime, Busy: s.jobs.busy(m.MediaID)}
	if f, ok := m.Source(); ok {
		v.Size, v.Duration, v.Format, v.Width, v.Height = f.FileSize, f.Duration, f.FormatName, f.Width, f.Height
	}
	return v
}

const searchPageSize = 20

// search finds media by title, or by MediaId when q is one.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page < 1 {
		page = 1
	}
	type answer struct {
		Total int         `json:"total"`
		Page  int         `json:"page"`
		Size  int         `json:"page_size"`
		Media []mediaView `json:"media"`
	}
	if refresh.ValidateMediaID(q) == nil {
		// A pasted MediaId; a title of 32 letters and digits is
		// still searched when no media has that id.
		if mi, err := s.cfg.Backend.MediaInfo(r.Context(), q); err == nil {
			writeJSON(w, http.StatusOK, answer{Total: 1, Page: 1, Size: searchPageSize, Media: []mediaView{s.view(mi)}})
			return
		}
	}
	sq := refresh.SearchQuery{SortBy: "utcCreate:Desc", PageNo: page, PageSize: searchPageSize}
	if q != "" {
		sq.Match = refresh.TitleMatch(q)
	}
	res, err := s.cfg.Backend.SearchMedia(r.Context(), sq)
	if err != nil {
		s.fail(w, http.StatusBadGateway, err)
		return
	}
	a := answer{Total: res.Total, Page: page, Size: searchPageSize, Media: []mediaView{}}
	for _, m := range res.Media {
		a.Media = append(a.Media, s.view(m))
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) media(w http.ResponseWriter, r *http.Request) {
	mi, err := s.cfg.Backend.MediaInfo(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, s.view(mi))
}

// source is what the page names as the new file: a path under --root or a
// file it dropped (spooled).
type source struct {
	Path  string `json:"path,omitempty"`
	Spool string `json:"spool,omitempty"`
}

// resolve turns a source into the file's path on disk and the name the page
// shows. A status of 403 means the path tried to leave the root.
func (s *Server) resolve(src source) (path, display string, cleanup func(), status int, err error) {
	switch {
	case src.Spool != "" && src.Path == "":
		s.spoolMu.Lock()
		f, ok := s.spooled[src.Spool]
		s.spoolMu.Unlock()
		if !ok {
			return "", "", nil, http.StatusNotFound, errors.New("no such dropped file (was it uploaded already?)")
		}
		return f.path, f.name + " (dropped)", func() { s.unspool(src.Spool) }, 0, nil
	case src.Path != "" && src.Spool == "":
		p, st, err := s.rootPath(src.Path)
		if errors.Is(err, errOutside) {
			return "", "", nil, http.StatusForbidden, err
		}
		if err != nil {
			return "", "", nil, http.StatusNotFound, err
		}
		if !st.Mode().IsRegular() {
			return "", "", nil, http.StatusBadRequest, fmt.Errorf("%s is not a regular file", src.Path)
		}
		return p, src.Path, nil, 0, nil
	}
	return "", "", nil, http.StatusBadRequest, errors.New("name either a file under the root or a dropped file")
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &reupload.InputError{Field: "body", Err: err}
	}
	return nil
}

type replaceRequest struct {
	MediaID string `json:"media_id"`
	Source  source `json:"source"`
}

func (s *Server) preview(w http.ResponseWriter, r *http.Request) {
	var req replaceRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	path, display, _, status, err := s.resolve(req.Source)
	if err != nil {
		s.fail(w, status, err)
		return
	}
	p, err := s.cfg.Backend.Preview(r.Context(), req.MediaID, path)
	if err != nil {
		s.fail(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		*Preview
		Source string `json:"source"`
	}{p, display})
}

func (s *Server) listJobs(w http.ResponseWriter, _ *http.Request) {
	js, _ := s.jobs.since(0)
	if js == nil {
		js = []Job{}
	}
	writeJSON(w, http.StatusOK, js)
}

// startJob checks the guards again (the page's preview may be stale) and
// queues the replacement.
func (s *Server) startJob(w http.ResponseWriter, r *http.Request) {
	var req replaceRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, http.StatusBadRequest, err)
		return
	}
	path, display, cleanup, status, err := s.resolve(req.Source)
	if err != nil {
		s.fail(w, status, err)
		return
	}
	s.begin(w, r, req.MediaID, path, display, cleanup, true)
}

// begin previews (for the title, the guards and ICE's state before) and
// starts a job.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, mediaID, path, display string, cleanup func(), guards bool) {
	before, err := s.cfg.Backend.MediaInfo(r.Context(), mediaID)
	if err != nil {
		s.fail(w, http.StatusBadGateway, err)
		return
	}
	if guards {
		p, err := s.cfg.Backend.Preview(r.Context(), mediaID, path)
		if err != nil {
			s.fail(w, http.StatusBadGateway, err)
			return
		}
		if len(p.Problems) > 0 {
			writeJSON(w, http.StatusConflict, apiError{Error: "refused by the guards: " + p.Problems[0].Message, Code: p.Problems[0].Code})
			return
		}
	}
	j, err := s.jobs.start(mediaID, before.Title, display, path, before, cleanup)
	if err != nil {
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error(), Code: "Busy"})
		return
	}
	writeJSON(w, http.StatusAccepted, j)
}

func (s *Server) pauseJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.jobs.pause(r.PathValue("id"))
	if err != nil {
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
		return
	}
	v, _ := s.jobs.get(j.ID)
	writeJSON(w, http.StatusOK, v)
}

// resumeJob starts a paused or failed job of this session again; the
// library resumes from its checkpoint.
func (s *Server) resumeJob(w http.ResponseWriter, r *http.Request) {
	j, ok := s.jobs.get(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError{Error: errNoJob.Error()})
		return
	}
	if j.State != StatePaused && j.State != StateFailed {
		writeJSON(w, http.StatusConflict, apiError{Error: "the upload is " + j.State})
		return
	}
	s.begin(w, r, j.MediaID, j.path, j.Source, j.cleanup, false)
}

// pendingView is an unfinished upload from the state directory.
type pendingView struct {
	MediaID   string    `json:"media_id"`
	Source    string    `json:"source"`
	Size      int64     `json:"size"`
	Confirmed int64     `json:"confirmed"` // bytes the checkpoint saw confirmed (OSS is the truth)
	Updated   time.Time `json:"updated"`
	Busy      bool      `json:"busy"` // running in this session
}

func (s *Server) pending(w http.ResponseWriter, _ *http.Request) {
	cps, err := s.cfg.Backend.Pending()
	if err != nil && len(cps) == 0 {
		s.fail(w, http.StatusInternalServerError, err)
		return
	}
	out := []pendingView{}
	for _, cp := range cps {
		v := pendingView{MediaID: cp.MediaID, Source: s.displayPath(cp.Source.Path), Size: cp.Source.Size,
			Updated: cp.Updated, Busy: s.jobs.busy(cp.MediaID)}
		for _, p := range cp.Parts {
			v.Confirmed += p.Size
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

// displayPath shows a checkpoint's source relative to the root, a dropped
// file by its name, anything else as is.
func (s *Server) displayPath(p string) string {
	if rel, ok := within(s.cfg.SpoolDir, p); ok {
		return spoolName(rel) + " (dropped)"
	}
	if rel, ok := within(s.cfg.Root, p); ok {
		return rel
	}
	return reupload.DisplaySource(p)
}

func (s *Server) checkpoint(mediaID string) (*resume.Checkpoint, error) {
	cps, err := s.cfg.Backend.Pending()
	for _, cp := range cps {
		if cp.MediaID == mediaID {
			return cp, nil
		}
	}
	if err == nil {
		err = fmt.Errorf("no unfinished upload of media %s: %w", mediaID, os.ErrNotExist)
	}
	return nil, err
}

// resumePending resumes an unfinished upload from the state directory with
// the source its checkpoint names (the page cannot name another).
func (s *Server) resumePending(w http.ResponseWriter, r *http.Request) {
	cp, err := s.checkpoint(r.PathValue("id"))
	if err != nil {
		s.fail(w, http.StatusNotFound, err)
		return
	}
	var cleanup func()
	if _, ok := within(s.cfg.SpoolDir, cp.Source.Path); ok {
		p := cp.Source.Path
		cleanup = func() { os.Remove(p) }
	}
	s.begin(w, r, cp.MediaID, cp.Source.Path, s.displayPath(cp.Source.Path), cleanup, false)
}

func (s *Server) abortPending(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.jobs.busy(id) {
		writeJSON(w, http.StatusConflict, apiError{Error: errBusy.Error(), Code: "Busy"})
		return
	}
	cp, err := s.checkpoint(id)
	if err != nil {
		s.fail(w, http.StatusNotFound, err)
		return
	}
	res, err := s.cfg.Backend.Abort(r.Context(), id)
	if err != nil {
		s.fail(w, http.StatusBadGateway, err)
		return
	}
	if _, ok := within(s.cfg.SpoolDir, cp.Source.Path); ok {
		os.Remove(cp.Source.Path)
	}
	writeJSON(w, http.StatusOK, res)
}

// within reports whether p lies under dir, and p relative to it.
func within(dir, p string) (string, bool) {
	if dir == "" || p == "" {
		return "", false
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", false
	}
	return rel, true
}

// events streams job changes as Server-Sent Events: every job at once,
// then each job again whenever it changes (coalesced, so a slow page
// never slows an upload).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	wake, unsubscribe := s.jobs.subscribe()
	defer unsubscribe()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")
	var seen int64
	send := func() {
		js, v := s.jobs.since(seen)
		seen = v
		for _, j := range js {
			b, _ := json.Marshal(j)
			fmt.Fprintf(w, "event: job\ndata: %s\n\n", b)
		}
		fl.Flush()
	}
	for {
		send()
		select {
		case <-wake:
		case <-s.jobs.quit: // the server is going: send the last changes
			send()
			return
		case <-r.Context().Done():
			return
		}
	}
}
