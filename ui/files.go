package ui

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// mediaExt are the file name extensions the browser lists (besides folders).
var mediaExt = []string{".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".flv", ".f4v", ".wmv", ".asf",
	".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".3gp", ".mxf", ".ogv", ".mp3", ".m4a", ".wav", ".aac", ".flac", ".ogg"}

func isMediaName(name string) bool {
	return slices.Contains(mediaExt, strings.ToLower(filepath.Ext(name)))
}

// errOutside is a path that names something outside the root.
var errOutside = errors.New("outside the folder reupload ui may show")

// cleanRel checks a path the page sent: relative, slash-separated, without
// "..". os.Root refuses escapes too (symlinks included); checking first
// gives a clear answer and keeps odd names out of the root's calls.
func cleanRel(p string) (string, error) {
	if p == "" || p == "." {
		return ".", nil
	}
	if !utf8.ValidString(p) || strings.ContainsRune(p, 0) || strings.Contains(p, "\\") || path.IsAbs(p) || filepath.IsAbs(p) || filepath.VolumeName(p) != "" {
		return "", errOutside
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", errOutside
		}
	}
	return path.Clean(p), nil
}

// rootPath checks that rel names a file inside the root, following
// symlinks only while they stay inside (os.Root), and returns its real path
// on disk (symlinks resolved), which the library then opens.
func (s *Server) rootPath(rel string) (string, fs.FileInfo, error) {
	rel, err := cleanRel(rel)
	if err != nil {
		return "", nil, err
	}
	st, err := s.root.Stat(rel)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", rel, scrubPathErr(err))
	}
	base, err := filepath.EvalSymlinks(s.cfg.Root)
	if err != nil {
		return "", nil, err
	}
	real, err := filepath.EvalSymlinks(filepath.Join(base, filepath.FromSlash(rel)))
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", rel, scrubPathErr(err))
	}
	if _, ok := within(base, real); !ok {
		return "", nil, errOutside
	}
	return real, st, nil
}

// scrubPathErr keeps the reason of a path error but not the path, which
// may be absolute (the page knows only paths relative to the root).
func scrubPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if strings.Contains(pe.Err.Error(), "escapes") {
			return errOutside
		}
		return pe.Err
	}
	return err
}

type fileEntry struct {
	Name     string    `json:"name"`
	Path     string    `json:"path"` // relative to the root
	Dir      bool      `json:"dir"`
	Size     int64     `json:"size,omitempty"`
	Modified time.Time `json:"modified"`
}

// files lists a folder under the root: folders and media files, with size
// and date. Symlinks are listed when their target is inside the root.
func (s *Server) files(w http.ResponseWriter, r *http.Request) {
	rel, err := cleanRel(r.URL.Query().Get("path"))
	if err != nil {
		s.fail(w, http.StatusForbidden, err)
		return
	}
	f, err := s.root.Open(rel)
	if err != nil {
		status := http.StatusNotFound
		if err = scrubPathErr(err); errors.Is(err, errOutside) {
			status = http.StatusForbidden
		}
		s.fail(w, status, fmt.Errorf("%s: %w", rel, err))
		return
	}
	defer f.Close()
	des, err := f.ReadDir(-1)
	if err != nil {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("%s: %w", rel, scrubPathErr(err)))
		return
	}
	out := struct {
		Path    string      `json:"path"`
		Parent  string      `json:"parent,omitempty"`
		Entries []fileEntry `json:"entries"`
	}{Path: rel, Entries: []fileEntry{}}
	if rel != "." {
		out.Parent = path.Dir(rel)
	}
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := path.Join(rel, name)
		st, err := s.root.Stat(p) // follows symlinks, never out of the root
		if err != nil {
			continue
		}
		e := fileEntry{Name: name, Path: p, Dir: st.IsDir(), Modified: st.ModTime().UTC()}
		switch {
		case st.IsDir():
		case st.Mode().IsRegular() && isMediaName(name):
			e.Size = st.Size()
		default:
			continue
		}
		out.Entries = append(out.Entries, e)
	}
	slices.SortFunc(out.Entries, func(a, b fileEntry) int {
		if a.Dir != b.Dir {
			if a.Dir {
				return -1
			}
			return 1
		}
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	writeJSON(w, http.StatusOK, out)
}

// spoolFile is a file dropped onto the page, written under the state dir.
type spoolFile struct {
	path, name string
	size       int64
}

// spoolName recovers the dropped name from a spool file's base name
// ("drop-RANDOM-NAME").
func spoolName(base string) string {
	parts := strings.SplitN(base, "-", 3)
	if len(parts) == 3 && parts[0] == "drop" {
		return parts[2]
	}
	return base
}

// safeName keeps a dropped file's base name fit for a file name.
func safeName(n string) string {
	n = path.Base(strings.ReplaceAll(n, "\\", "/"))
	n = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == ':' {
			return '_'
		}
		return r
	}, n)
	if n == "." || n == ".." || n == "/" || n == "" {
		n = "dropped"
	}
	if len(n) > 120 {
		n = n[len(n)-120:]
	}
	return n
}

// spool receives a dropped file: the browser streams it as the request
// body, and it is written under the spool directory (it needs that much
// free disk space) so the upload can read it in parts and resume.
func (s *Server) spool(w http.ResponseWriter, r *http.Request) {
	name := safeName(r.URL.Query().Get("name"))
	if !utf8.ValidString(name) {
		name = "dropped"
	}
	tmp, err := os.CreateTemp(s.cfg.SpoolDir, "drop-*-"+strings.ReplaceAll(name, "*", "_"))
	if err != nil {
		s.fail(w, http.StatusInternalServerError, err)
		return
	}
	n, err := io.Copy(tmp, r.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && r.ContentLength >= 0 && n != r.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		os.Remove(tmp.Name())
		s.fail(w, http.StatusBadRequest, fmt.Errorf("receiving %s: %w", name, err))
		return
	}
	id := randID()
	s.spoolMu.Lock()
	s.spooled[id] = spoolFile{path: tmp.Name(), name: name, size: n}
	s.spoolMu.Unlock()
	writeJSON(w, http.StatusCreated, struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Size int64  `json:"size"`
	}{id, name, n})
}

// unspool removes a dropped file once its upload no longer needs it.
func (s *Server) unspool(id string) {
	s.spoolMu.Lock()
	f, ok := s.spooled[id]
	delete(s.spooled, id)
	s.spoolMu.Unlock()
	if ok {
		os.Remove(f.path)
	}
}
