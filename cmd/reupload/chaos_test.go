package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/reupload/reupload/internal/emulator"
)

// TestChaosKill9 kills the CLI with SIGKILL at random moments of one upload,
// resumes each time, and checks the object is byte-identical and that the
// waste is bounded by the parts in flight at each kill. CI runs 3 kills;
// REUPLOAD_CHAOS_KILLS=20 go test -run Chaos ./cmd/reupload runs the long mode.
func TestChaosKill9(t *testing.T) {
	kills := 3
	if v := os.Getenv("REUPLOAD_CHAOS_KILLS"); v != "" {
		kills, _ = strconv.Atoi(v)
	}
	chaos(t, kills, false)
}

// TestChaosKill9HTTPSource does the same with the source read from an
// http(s) URL (Range requests, resumable on Last-Modified): a kill -9 costs
// no more than the parts in flight there either.
func TestChaosKill9HTTPSource(t *testing.T) { chaos(t, 2, true) }

func chaos(t *testing.T, kills int, viaHTTP bool) {
	em, err := emulator.Start(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	info := em.Info()
	m := info.Media[0]
	const partSize, jobs = 256 << 10, 4
	size := int64(kills+2) * 8 * partSize * jobs // enough parts that every kill lands mid-upload
	dir := t.TempDir()
	path := filepath.Join(dir, "src.mp4")
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(42, uint64(kills)))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	source := path
	if viaHTTP {
		srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
		defer srv.Close()
		source = srv.URL + "/src.mp4"
	}
	cmd := func() *exec.Cmd {
		c := exec.Command(os.Args[0], "put", "--quiet", "--endpoint", info.ICEEndpoint, "--state-dir", filepath.Join(dir, "state"),
			"--part-size", strconv.Itoa(partSize), "-j", strconv.Itoa(jobs), m.MediaID, source)
		c.Env = append(os.Environ(), "REUPLOAD_TEST_AS_CLI=1", "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true",
			"ALIBABA_CLOUD_ACCESS_KEY_ID="+info.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+info.AccessKeySecret)
		return c
	}
	for k := 0; k < kills; k++ {
		// Kill once the server has received a random further amount of part data.
		target := em.OSS.Stats().PartBytesReceived + int64(rng.IntN(6*partSize*jobs)) + 1
		c := cmd()
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- c.Wait() }()
		if !waitFor(t, exited, func() bool { return em.OSS.Stats().PartBytesReceived >= target }) {
			t.Fatalf("kill %d: the CLI finished before it could be killed; output: %s", k, out.String())
		}
		c.Process.Kill()
		<-exited
		if !bytes.Equal(readObject(t, em, m), emulator.OldSource(m.MediaID)) {
			t.Fatalf("kill %d: the old source changed before Complete", k)
		}
	}
	c := cmd()
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	if !bytes.Equal(readObject(t, em, m), data) {
		t.Fatal("object differs from the source after the kills")
	}
	received := em.OSS.Stats().PartBytesReceived
	if limit := size + int64(kills)*jobs*partSize; received > limit {
		t.Fatalf("OSS received %d part bytes for a %d-byte file after %d kills; limit %d", received, size, kills, limit)
	}
	t.Logf("%d kills: %d part bytes received for %d (%.2f parts of waste per kill)", kills, received, size, float64(received-size)/float64(kills)/partSize)
}

// waitFor polls cond until it holds (true) or the process exits (false).
func waitFor(t *testing.T, exited chan error, cond func() bool) bool {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for !cond() {
		select {
		case err := <-exited:
			exited <- err
			return false
		case <-ctx.Done():
			t.Fatal("timed out waiting for the upload to progress")
		case <-tick.C:
		}
	}
	return true
}

func readObject(t *testing.T, em *emulator.Emulator, m emulator.Media) []byte {
	t.Helper()
	b, err := em.OSS.ReadObject(m.Bucket, m.Object)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
