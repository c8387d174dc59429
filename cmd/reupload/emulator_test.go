package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/reupload/reupload/internal/emulator"
)

// startEmulator runs `reupload emulator args…` and returns the process, its
// stdout after the first line, that JSON line, and its stderr.
func startEmulator(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader, []byte, *bytes.Buffer) {
	t.Helper()
	em := exec.Command(os.Args[0], append([]string{"emulator"}, args...)...)
	em.Env = append(os.Environ(), "REUPLOAD_TEST_AS_CLI=1")
	stdout, err := em.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &bytes.Buffer{}
	em.Stderr = stderr
	if err := em.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	line, err := out.ReadBytes('\n')
	if err != nil {
		em.Process.Kill()
		em.Wait()
		t.Fatalf("no JSON line: %v; stderr: %s", err, stderr.String())
	}
	return em, out, line, stderr
}

// TestEmulatorCommand drives `reupload emulator` the way a script does: it
// prints exactly one JSON line on stdout when ready, a `reupload put`
// against it with the printed key replaces a media's source, and SIGTERM
// stops it with exit 0 and nothing more on stdout.
func TestEmulatorCommand(t *testing.T) {
	dir := t.TempDir()
	em, out, line, stderr := startEmulator(t, "--media", "2", "--data", filepath.Join(dir, "data"))
	defer em.Process.Kill()
	var info emulator.Info
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		t.Fatalf("JSON line %q: %v", line, err)
	}
	if info.ICEEndpoint == "" || info.OSSEndpoint == "" || info.Region != "cn-shanghai" || info.AccessKeyID == "" || info.AccessKeySecret == "" || len(info.Media) != 2 {
		t.Fatalf("JSON line lacks fields: %s", line)
	}

	src := filepath.Join(dir, "new.mp4")
	data := bytes.Repeat([]byte("new source "), 30000)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	put := exec.Command(os.Args[0], "put", "--json", "--endpoint", info.ICEEndpoint, "--state-dir", filepath.Join(dir, "state"), info.Media[1].MediaID, src)
	put.Env = append(os.Environ(), "REUPLOAD_TEST_AS_CLI=1", "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true",
		"ALIBABA_CLOUD_ACCESS_KEY_ID="+info.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+info.AccessKeySecret)
	res, err := put.Output()
	if err != nil {
		t.Fatalf("put: %v: %s", err, res)
	}
	var r struct {
		Status, Object string
		Size           int64
	}
	if err := json.Unmarshal(res, &r); err != nil || r.Status != "done" || r.Object != info.Media[1].Object || r.Size != int64(len(data)) {
		t.Fatalf("put result %s (%v)", res, err)
	}
	// --data persists objects: the new source is on disk under the emulator's directory.
	var found bool
	filepath.Walk(filepath.Join(dir, "data"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Equal(b, data) {
				found = true
			}
		}
		return nil
	})
	if !found {
		t.Fatal("the new source is not in the --data directory")
	}

	if err := em.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, _ := out.ReadString(0)
	if err := em.Wait(); err != nil {
		t.Fatalf("emulator exit: %v; stderr: %s", err, stderr.String())
	}
	if rest != "" {
		t.Fatalf("stdout after the JSON line: %q", rest)
	}
}

// TestEmulatorDenyAndLagFlags: --deny prints a second key, refused with
// Forbidden.RAM for the named action and served otherwise; bad --ice-lag
// and --deny values are usage errors.
func TestEmulatorDenyAndLagFlags(t *testing.T) {
	em, _, line, _ := startEmulator(t, "--deny", "RefreshUploadMedia", "--ice-lag", "0")
	defer func() {
		em.Process.Signal(syscall.SIGTERM)
		em.Wait()
	}()
	var info emulator.Info
	if err := json.Unmarshal(line, &info); err != nil {
		t.Fatal(err)
	}
	if info.DeniedAccessKeyID == "" || info.DeniedAccessKeySecret == "" || len(info.DeniedActions) != 1 || info.DeniedActions[0] != "RefreshUploadMedia" || info.Media[0].Title == "" {
		t.Fatalf("JSON line %s", line)
	}
	src := filepath.Join(t.TempDir(), "new.mp4")
	if err := os.WriteFile(src, []byte("new source"), 0o644); err != nil {
		t.Fatal(err)
	}
	put := exec.Command(os.Args[0], "put", "--json", "--allow-suspicious", "--endpoint", info.ICEEndpoint, "--state-dir", t.TempDir(), info.Media[0].MediaID, src)
	put.Env = append(os.Environ(), "REUPLOAD_TEST_AS_CLI=1", "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true",
		"ALIBABA_CLOUD_ACCESS_KEY_ID="+info.DeniedAccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+info.DeniedAccessKeySecret)
	res, _ := put.Output()
	if !bytes.Contains(res, []byte("Forbidden.RAM")) || put.ProcessState.ExitCode() == 0 {
		t.Errorf("put with the denied key: exit %d, %s", put.ProcessState.ExitCode(), res)
	}
	if bytes.Contains(res, []byte(info.DeniedAccessKeySecret)) {
		t.Error("the denied key's secret is in put's output")
	}

	for _, args := range [][]string{{"--ice-lag", "-1s"}, {"--deny", "DeleteMedia"}} {
		bad := exec.Command(os.Args[0], append([]string{"emulator"}, args...)...)
		bad.Env = append(os.Environ(), "REUPLOAD_TEST_AS_CLI=1")
		out, _ := bad.CombinedOutput()
		if bad.ProcessState.ExitCode() != 2 {
			t.Errorf("emulator %q: exit %d, want 2: %s", args, bad.ProcessState.ExitCode(), out)
		}
	}
}
