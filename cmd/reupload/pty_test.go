//go:build linux

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/resume"
)

// A pseudo-terminal of our own: testscript's ttyin attaches stdin only, and
// put asks only when stdin and stderr are both terminals.
type pty struct {
	master, slave *os.File

	mu  sync.Mutex
	out bytes.Buffer // what the command wrote to the terminal
}

func openPTY(t *testing.T) *pty {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	unlock := 0
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := &pty{master: m, slave: s}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { m.Close(); s.Close() })
	return p
}

func (p *pty) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// await waits until the terminal shows re (or the command ends).
func (p *pty) await(t *testing.T, re string, exited <-chan error) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := rx.FindStringSubmatch(p.text()); m != nil {
			return m
		}
		select {
		case err := <-exited:
			t.Fatalf("the command ended (%v) before the terminal showed %q:\n%s", err, re, p.text())
		case <-tick.C:
		}
	}
}

// ptyPut starts `reupload put ARGS` (this test binary as the CLI) on the
// terminal, as a session leader the terminal sends its Ctrl-C to.
func ptyPut(t *testing.T, p *pty, em *emulator.Emulator, args ...string) (*exec.Cmd, <-chan error) {
	t.Helper()
	info := em.Info()
	cmd := exec.Command(os.Args[0], append([]string{"put", "--endpoint", info.ICEEndpoint}, args...)...)
	cmd.Env = append(os.Environ(), "REUPLOAD_TEST_AS_CLI=1", "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true",
		"ALIBABA_CLOUD_ACCESS_KEY_ID="+info.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+info.AccessKeySecret, "TERM=dumb")
	cmd.Stdin, cmd.Stderr = p.slave, p.slave
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		for _, s := range em.IssuedSecrets() {
			if bytes.Contains([]byte(p.text()), []byte(s)) || bytes.Contains(stdout.Bytes(), []byte(s)) {
				t.Error("a secret reached the terminal")
			}
		}
	})
	return cmd, exited
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func mp4File(t *testing.T, size int) string {
	t.Helper()
	data := bytes.Repeat([]byte("video bytes "), size/12+1)[:size]
	copy(data, "\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
	path := filepath.Join(t.TempDir(), "new.mp4")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// On a terminal, put asks before replacing: y replaces, n and end of input
// decline (exit 1, nothing sent), and --yes does not ask.
func TestPromptOnTerminal(t *testing.T) {
	em, err := emulator.Start(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	m := em.Info().Media[0]
	src := mp4File(t, 300<<10)
	for _, c := range []struct {
		name, answer string
		args         []string
		code         int
		replaced     bool
	}{
		{"yes", "y\n", nil, 0, true},
		{"no", "n\n", nil, 1, false},
		{"end of input", "\x04", nil, 1, false},
		{"--yes", "", []string{"--yes"}, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := em.OSS.PutObjectData(m.Bucket, m.Object, emulator.OldSource(m.MediaID)); err != nil {
				t.Fatal(err)
			}
			p := openPTY(t)
			args := append(append([]string{"--state-dir", t.TempDir()}, c.args...), m.MediaID, src)
			_, exited := ptyPut(t, p, em, args...)
			if c.answer != "" {
				p.await(t, `Replace "Spring launch keynote" \(3\.3 KiB → 300\.0 KiB\)\? \[y/N\] `, exited)
				p.master.Write([]byte(c.answer))
			}
			if got := exitCode(<-exited); got != c.code {
				t.Fatalf("exit %d, want %d; terminal:\n%s", got, c.code, p.text())
			}
			if c.answer == "" && regexp.MustCompile(`\[y/N\]`).MatchString(p.text()) {
				t.Fatalf("--yes asked:\n%s", p.text())
			}
			got, _ := em.OSS.ReadObject(m.Bucket, m.Object)
			if replaced := !bytes.Equal(got, emulator.OldSource(m.MediaID)); replaced != c.replaced {
				t.Fatalf("replaced %v, want %v; terminal:\n%s", replaced, c.replaced, p.text())
			}
			if !c.replaced && !regexp.MustCompile(`not replaced: the replacement was not confirmed`).MatchString(p.text()) {
				t.Fatalf("a declined prompt does not say so:\n%s", p.text())
			}
		})
	}
}

// On a slow link the terminal shows bytes moving before any part is
// confirmed, and a first Ctrl-C lets the parts in flight finish, keeps them
// in the checkpoint and exits 130 without completing; the rerun resumes.
func TestProgressAndCtrlCOnTerminal(t *testing.T) {
	em, err := emulator.Start(emulator.Config{TotalBandwidth: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	m := em.Info().Media[0]
	src := mp4File(t, 32<<20)
	state := t.TempDir()
	p := openPTY(t)
	_, exited := ptyPut(t, p, em, "--yes", "--state-dir", state, m.MediaID, src)

	p.await(t, `uploading 32\.0 MiB to oss://\S+: 4 part\(s\) of 8\.0 MiB, 2 in flight`, exited)
	// Bytes before any part is done: the bar's "parts 0/4" with bytes sent.
	got := p.await(t, `([0-9.]+) MiB / 32\.0 MiB, .*parts 0/4 \(2 in flight\)`, exited)
	if sent, _ := strconv.ParseFloat(got[1], 64); sent <= 0 {
		t.Fatalf("the bar shows %s MiB before any part is done", got[1])
	}
	if em.OSS.Stats().Requests["UploadPart"] > 2 {
		t.Fatal("setup: parts finished before the bar was read")
	}

	p.master.Write([]byte{3}) // Ctrl-C, through the terminal's line discipline
	p.await(t, `stopping: finishing 2 part\(s\) in flight \(up to 10s\) and saving the checkpoint; Ctrl-C again to stop now`, exited)
	if code := exitCode(<-exited); code != 130 {
		t.Fatalf("exit %d, want 130; terminal:\n%s", code, p.text())
	}
	p.await(t, `stopped: the parts sent so far are on OSS and in the checkpoint; nothing was replaced \(run the same command again to resume\)`, nil)
	if em.OSS.Stats().Requests["CompleteMultipartUpload"] != 0 {
		t.Fatal("completed after Ctrl-C")
	}
	store, err := resume.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	cps, _ := store.List()
	if len(cps) != 1 || len(cps[0].Parts) != 2 {
		t.Fatalf("checkpoints %+v: want the two parts that were in flight kept", cps)
	}

	// The rerun resumes from them.
	p2 := openPTY(t)
	_, exited = ptyPut(t, p2, em, "--yes", "--state-dir", state, m.MediaID, src)
	p2.await(t, `resuming: 2 of 4 parts already on OSS`, exited)
	if code := exitCode(<-exited); code != 0 {
		t.Fatalf("rerun exit %d; terminal:\n%s", code, p2.text())
	}
}
