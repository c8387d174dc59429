package conformance

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAliOSS runs node/ali-oss.test.js (ali-oss with V1 and V4 signing) with
// `node --test` against the fake started here, then expires the presigned
// URLs the Node tests made by moving the fake's clock past them. It needs
// node and `npm ci --prefix node` (CI does both).
func TestAliOSS(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; CI installs it and runs this test")
	}
	if _, err := os.Stat(filepath.Join("node", "node_modules", "ali-oss")); err != nil {
		t.Fatal("ali-oss is not installed: run `npm ci --prefix conformance/node` first")
	}
	// Read what node will run, so that go test's cache notices a change.
	for _, f := range []string{"ali-oss.test.js", "package-lock.json"} {
		if _, err := os.ReadFile(filepath.Join("node", f)); err != nil {
			t.Fatal(err)
		}
	}
	clk := &clock{}
	s := startOSS(t, clk)
	const stsKey = "node/sts.txt"
	ak, sk, tok, _ := s.IssueToken(bucketName, stsKey, time.Hour)
	out := filepath.Join(t.TempDir(), "presigned.txt")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "--test", "ali-oss.test.js")
	cmd.Dir = "node"
	cmd.Env = append(os.Environ(),
		"OSS_ENDPOINT="+s.URL(), "OSS_REGION=oss-"+region, "OSS_BUCKET="+bucketName,
		"OSS_AK="+rootAK, "OSS_SK="+rootSK,
		"OSS_STS_AK="+ak, "OSS_STS_SK="+sk, "OSS_STS_TOKEN="+tok, "OSS_STS_KEY="+stsKey,
		"OSS_PRESIGN_OUT="+out,
	)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		t.Fatalf("node --test: %v\n%s", err, buf.String())
	}
	t.Logf("node --test:\n%s", lastLines(buf.String(), 12))

	f, err := os.Open(out)
	if err != nil {
		t.Fatalf("the Node tests recorded no presigned URL: %v", err)
	}
	defer f.Close()
	var urls []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		urls = append(urls, sc.Text())
	}
	if len(urls) != 4 {
		t.Fatalf("%d presigned URLs recorded, want 4", len(urls))
	}
	clk.Advance(11 * time.Minute) // they were signed for 600 s
	for _, u := range urls {
		resp, err := http.Get(strings.Replace(u, "localhost", "127.0.0.1", 1))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !bytes.Contains(body, []byte("<Message>Request has expired.</Message>")) {
			t.Fatalf("expired %s: %d %s", u, resp.StatusCode, body)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
