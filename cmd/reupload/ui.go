package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/resume"
	"github.com/reupload/reupload/ui"
)

const uiHelp = `usage: reupload ui [flags]

Serves a page for editors on this computer only: find a media by title,
choose the new file (from --root, or dropped onto the page), replace its
source, and watch the upload. Prints one line on stdout, the address with
its secret token, and opens it in the default browser unless --no-browser.
Runs until SIGINT/SIGTERM: running uploads then stop gracefully and keep
their checkpoints; the next 'reupload ui' lists them for Resume.
Files dropped onto the page are copied under --state-dir first (ui-spool).

Flags:
`

// uiStopGrace is how long a stopping server waits for parts in flight.
const uiStopGrace = 2 * time.Minute

// openBrowser opens url in the user's default browser (env.openURL, when
// set, replaces it: tests).
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it; the browser outlives it
	return nil
}

func (e *env) ui(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("ui", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs, e.stderr)
	addr := fs.String("addr", "127.0.0.1:0", "loopback HOST:PORT to serve on (port 0: a free one)")
	root := fs.String("root", "", "the only folder tree the page may browse (default: your home directory)")
	noBrowser := fs.Bool("no-browser", false, "print the address but do not open a browser")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return e.help(fs, uiHelp)
	}
	if err == nil && len(pos) > 0 {
		err = usagef("ui takes no arguments, got %q", pos)
	}
	if err == nil && *root == "" {
		*root, err = os.UserHomeDir()
	}
	if err == nil {
		var st os.FileInfo
		if st, err = os.Stat(*root); err == nil && !st.IsDir() {
			err = usagef("--root %s is not a folder", *root)
		} else if err != nil {
			err = usagef("--root: %v", err)
		}
	}
	var ln net.Listener
	if err == nil {
		if ln, err = ui.Listen(*addr); err != nil {
			err = usagef("%v", err)
		}
	}
	if err != nil {
		return e.fail(err, false, "")
	}
	defer ln.Close()
	c, err := cf.client()
	if err != nil {
		return e.fail(err, false, "")
	}
	stateDir := cf.stateDir
	if stateDir == "" {
		if stateDir, err = resume.DefaultDir(); err != nil {
			return e.fail(err, false, "")
		}
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, nil))
	srv, err := ui.New(ui.Config{Backend: &ui.ClientBackend{C: c}, Root: *root,
		SpoolDir: filepath.Join(stateDir, "ui-spool"), Port: ln.Addr().(*net.TCPAddr).Port, Host: ln.Addr().(*net.TCPAddr).IP.String(), Logger: logger})
	if err != nil {
		return e.fail(err, false, "")
	}
	defer srv.Close()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Fprintln(e.stdout, srv.URL())
	logger.Info("serving reupload ui", "root", *root, "state_dir", stateDir)
	if !*noBrowser {
		open := e.openURL
		if open == nil {
			open = openBrowser
		}
		if err := open(srv.URL()); err != nil {
			logger.Warn("could not open a browser; open the address above yourself", "err", reupload.OneLine(err.Error()))
		}
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		return e.fail(fmt.Errorf("serving the page: %w", err), false, "")
	}
	logger.Info("stopping: running uploads finish their parts in flight and keep their checkpoints")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), uiStopGrace)
	defer cancel()
	if err := srv.Stop(sctx); err != nil {
		logger.Warn("uploads did not stop in time; their checkpoints are kept", "err", err)
	}
	hs.Shutdown(sctx)
	return reupload.ExitOK
}
