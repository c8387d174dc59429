package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/reupload/reupload/internal/endpoint"
)

//go:embed static
var static embed.FS

// Config says what a Server serves.
type Config struct {
	Backend Backend
	// Root is the only directory tree the file browser shows and the
	// only one the page may name sources in.
	Root string
	// SpoolDir holds files dropped onto the page until they are uploaded;
	// it is created (0700) when missing.
	SpoolDir string
	// Port is the port the server listens on: the Host and Origin checks
	// and the cookie's name depend on it.
	Port int
	// Host is the loopback address listened on, for URL: "" means
	// 127.0.0.1; "::1" gives http://[::1]:PORT/.
	Host string
	// Token is the secret of the URL; "" means a random one (Token()).
	Token string
	// Files is how many uploads run at once; 0 means 4 (the batch
	// engine's default, reupload.DefaultFiles).
	Files  int
	Logger *slog.Logger // nil means discard
}

// Server is the page and its API. It is an http.Handler.
type Server struct {
	cfg    Config
	root   *os.Root
	token  string
	logger *slog.Logger
	static http.Handler
	jobs   *jobs
	mux    *http.ServeMux

	spoolMu sync.Mutex
	spooled map[string]spoolFile // by id
}

// New builds a Server; Close releases it.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("ui: no Backend")
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("ui: bad port %d", cfg.Port)
	}
	for _, d := range []*string{&cfg.Root, &cfg.SpoolDir} {
		if *d != "" {
			abs, err := filepath.Abs(*d)
			if err != nil {
				return nil, err
			}
			*d = abs
		}
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("--root: %w", err)
	}
	if cfg.SpoolDir == "" {
		root.Close()
		return nil, errors.New("ui: no SpoolDir")
	}
	if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
		root.Close()
		return nil, fmt.Errorf("spool directory: %w", err)
	}
	if cfg.Token == "" {
		b := make([]byte, 24)
		rand.Read(b) // never fails since Go 1.24
		cfg.Token = hex.EncodeToString(b)
	}
	if cfg.Files <= 0 {
		cfg.Files = 4
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sub, _ := fs.Sub(static, "static")
	s := &Server{cfg: cfg, root: root, token: cfg.Token, logger: logger,
		static: http.FileServerFS(sub), spooled: map[string]spoolFile{}}
	s.jobs = newJobs(cfg.Backend, cfg.Files, logger)
	s.routes()
	return s, nil
}

// Token is the secret the URL carries.
func (s *Server) Token() string { return s.token }

// URL is the address to open: it carries the token.
func (s *Server) URL() string {
	host := s.cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(s.cfg.Port)) + "/?token=" + s.token
}

// Stop asks every running upload to stop gracefully (parts in flight
// finish, checkpoints are kept) and waits until they have, or ctx ends.
func (s *Server) Stop(ctx context.Context) error { return s.jobs.stopAll(ctx) }

// Close releases the root directory.
func (s *Server) Close() error { return s.root.Close() }

// cookieName is per port: browsers share cookies across the ports of a
// host, so two servers on one machine must not overwrite each other's.
func (s *Server) cookieName() string { return "reupload_ui_" + strconv.Itoa(s.cfg.Port) }

// allowedHost reports whether host (the Host header) names this server on
// loopback. Any other name may be a DNS-rebinding page of the attacker's.
func (s *Server) allowedHost(host string) bool {
	p := strconv.Itoa(s.cfg.Port)
	switch host {
	case "127.0.0.1:" + p, "localhost:" + p, "[::1]:" + p:
		return true
	}
	// The address listened on, when another loopback one (127.0.0.2).
	return s.cfg.Host != "" && host == net.JoinHostPort(s.cfg.Host, p)
}

// ServeHTTP applies the security rules, in this order: Host (DNS
// rebinding), token or cookie (other local users and other pages), Origin
// for every state-changing request (CSRF); then the page or the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if !s.allowedHost(r.Host) {
		forbid(w, "unknown Host")
		return
	}
	if tok := r.URL.Query().Get("token"); tok != "" && r.Method == http.MethodGet && r.URL.Path == "/" {
		if !s.tokenOK(tok) {
			forbid(w, "bad token")
			return
		}
		// The token becomes a cookie and leaves the address bar (and
		// the history) at once.
		http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: s.token, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c, err := r.Cookie(s.cookieName())
	if err != nil || !s.tokenOK(c.Value) {
		forbid(w, "open the address reupload ui printed (it carries the token)")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	default:
		if r.Header.Get("Origin") != "http://"+r.Host {
			forbid(w, "cross-origin request")
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) tokenOK(v string) bool {
	return subtle.ConstantTimeCompare([]byte(v), []byte(s.token)) == 1
}

func forbid(w http.ResponseWriter, why string) {
	http.Error(w, "403 forbidden: "+why, http.StatusForbidden)
}

// Listen listens on addr, which must name a loopback address
// (endpoint.IsLoopback): the page holds the user's cloud credentials and
// must not be reachable from the network. A loopback name such as
// localhost listens on 127.0.0.1.
func Listen(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--addr %q: %w", addr, err)
	}
	if !endpoint.IsLoopback(host) {
		return nil, fmt.Errorf("--addr %q: only a loopback address (127.0.0.1, [::1], localhost) is allowed", addr)
	}
	if net.ParseIP(strings.Trim(host, "[]")) == nil {
		host = "127.0.0.1"
	}
	return net.Listen("tcp", net.JoinHostPort(strings.Trim(host, "[]"), port))
}
