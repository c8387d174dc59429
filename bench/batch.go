//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/refresh"
)

// iceActions are the ICE calls a batch makes per media, counted at the
// emulator.
var iceActions = []string{"RefreshUploadMedia", "GetMediaInfo"}

// batchCases runs `reupload batch` over many media on the emulator (ICE and
// OSS together, discard storage) and, for the small media, a shell loop of
// ossutil cp with fresh credentials per media, as a user without reupload
// would write it.
func (b *bench) batchCases(ctx context.Context, res *results) error {
	out, err := filepath.Abs(b.cfg.work)
	if err != nil {
		return err
	}
	bin := filepath.Join(out, "reupload")
	b.logf("building reupload")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/reupload")
	build.Stderr = b.stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/reupload: %w", err)
	}
	type bc struct {
		media  int
		size   int64
		qps    float64
		files  int // 0: batch's default
		ossutl int // media for the ossutil loop (0: none)
	}
	cases := []bc{
		{media: 1000, size: mib, qps: 0},
		{media: 1000, size: mib, qps: 20},
		{media: 1000, size: mib, qps: 0, files: 32},
		{media: 100, size: 64 * mib, qps: 10},
		{media: 200, size: mib, ossutl: 200},
	}
	if b.cfg.quick {
		cases = []bc{{media: 50, size: mib, qps: 0}, {media: 50, size: mib, qps: 20}, {media: 10, size: 16 * mib, qps: 10}, {media: 20, size: mib, ossutl: 20}}
	}
	for _, c := range cases {
		path, err := b.mediaFile(c.size)
		if err != nil {
			return err
		}
		em, err := emulator.Start(emulator.Config{Discard: true, Media: c.media})
		if err != nil {
			return err
		}
		row, err := b.batchRun(ctx, em, bin, path, c.size, c.media, c.qps, c.files, c.ossutl > 0)
		em.Close()
		if err != nil {
			return err
		}
		res.Batch = append(res.Batch, row)
	}
	return nil
}

func (b *bench) batchRun(ctx context.Context, em *emulator.Emulator, bin, src string, size int64, n int, qps float64, files int, loop bool) (batchRow, error) {
	info := em.Info()
	dir, err := os.MkdirTemp(b.cfg.work, "batch-")
	if err != nil {
		return batchRow{}, err
	}
	defer os.RemoveAll(dir)
	var man strings.Builder
	for _, m := range info.Media[:n] {
		fmt.Fprintf(&man, "%s,%s\n", m.MediaID, src)
	}
	manifest := filepath.Join(dir, "manifest.csv")
	if err := os.WriteFile(manifest, []byte(man.String()), 0o644); err != nil {
		return batchRow{}, err
	}
	env := append(os.Environ(),
		"ALIBABA_CLOUD_ACCESS_KEY_ID="+info.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+info.AccessKeySecret,
		"ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", "ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true",
		"ALIBABA_CLOUD_CONFIG_FILE="+filepath.Join(dir, "none.json"), "ALIBABA_CLOUD_CREDENTIALS_FILE="+filepath.Join(dir, "none.ini"),
		"HOME="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, ".cache"))
	row := batchRow{Tool: "reupload batch", Media: n, Size: size, APIQPS: qps, Files: files}
	var cmd *exec.Cmd
	if loop {
		// What a user without reupload runs: per media, fresh credentials
		// from RefreshUploadMedia (the bench's icecreds role stands in for
		// `aliyun ice RefreshUploadMedia | jq`; it writes them to an ossutil
		// config file, never to the terminal), then ossutil cp.
		row.Tool = "shell loop: RefreshUploadMedia + ossutil cp"
		script := `set -e
while IFS=, read -r media src; do
  target=$("$BENCH" -role icecreds -endpoint "$ICE" -key "$media" -file "$DIR/ossutil.conf")
  "$OSSUTIL" cp -f "$src" "$target" -c "$DIR/ossutil.conf" --checkpoint-dir "$DIR/cp" --output-dir "$DIR/out" >/dev/null
done < "$MANIFEST"
`
		cmd = exec.CommandContext(ctx, "sh", "-c", script)
		cmd.Env = append(env, "BENCH="+b.exe, "ICE="+info.ICEEndpoint, "DIR="+dir, "OSSUTIL="+b.ossutil, "MANIFEST="+manifest)
	} else {
		args := []string{"batch", "--endpoint", info.ICEEndpoint, "--state-dir", filepath.Join(dir, "state"),
			"--quiet", "--results", filepath.Join(dir, "results.jsonl"),
			"--api-qps", strconv.FormatFloat(qps, 'f', -1, 64)}
		if files > 0 {
			args = append(args, "--files", strconv.Itoa(files))
		}
		cmd = exec.CommandContext(ctx, bin, append(args, manifest)...)
		cmd.Env = env
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	before := em.OSS.Stats()
	calls := map[string]int{}
	for _, a := range iceActions {
		calls[a] = em.ICE.Calls(a)
	}
	b.logf("batch: %s, %d × %s, --api-qps %v, --files %d", row.Tool, n, sizeName(size), qps, files)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return row, err
	}
	hwm := watchHWM(cmd.Process.Pid)
	err = cmd.Wait()
	row.Run.Wall = time.Since(start).Seconds()
	if !loop {
		// The batch is one process; the loop's peak is its ossutil and
		// credential processes', which come and go too fast to poll.
		row.Run.MaxRSS = hwm()
	}
	hwm()
	if err != nil {
		return row, fmt.Errorf("%s: %w: %.2000s", row.Tool, err, stderr.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		row.Run.CPU = tvSeconds(ru.Utime) + tvSeconds(ru.Stime) // with every reaped descendant's
	}
	row.Run.Received = em.OSS.Stats().PartBytesReceived - before.PartBytesReceived
	row.ICECalls = map[string]int{}
	for _, a := range iceActions {
		row.ICECalls[a] = em.ICE.Calls(a) - calls[a]
	}
	if !loop {
		done, err := countDone(filepath.Join(dir, "results.jsonl"))
		if err != nil {
			return row, err
		}
		if done != n {
			return row, fmt.Errorf("batch: %d of %d media done", done, n)
		}
	}
	row.MediaPerS = float64(n) / row.Run.Wall
	if qps > 0 {
		// Batch paces each action separately (ICE's limits are per action and
		// account), so the ceiling is set by the action called most per media.
		most := 0.0
		for _, a := range iceActions {
			most = max(most, float64(row.ICECalls[a])/float64(n))
		}
		if most > 0 {
			row.Ceiling = qps / most
		}
	}
	return row, nil
}

// mediaFile returns a source of size bytes that put's guards take for video:
// an MP4 ftyp box, then random bytes. With it the batch runs at its defaults,
// guards on, so each media makes the GetMediaInfo call they need.
func (b *bench) mediaFile(size int64) (string, error) {
	p := filepath.Join(b.cfg.work, fmt.Sprintf("media-%dMiB.mp4", size/mib))
	if fi, err := os.Stat(p); err == nil && fi.Size() == size {
		return p, nil
	}
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	ftyp := []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
	_, err = f.Write(ftyp)
	if err == nil {
		_, err = io.CopyN(f, rand.NewChaCha8([32]byte{4, 5, 6}), size-int64(len(ftyp)))
	}
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(p)
		return "", err
	}
	return p, nil
}

// countDone counts the result lines with status done.
func countDone(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Status == "done" {
			n++
		}
	}
	return n, sc.Err()
}

// runICECreds is the icecreds role: RefreshUploadMedia for one media with
// the caller key from the environment, the STS credentials written to an
// ossutil config file (mode 0600) at a.File, and only the oss:// target
// printed.
func runICECreds(ctx context.Context, a childArgs) error {
	c, err := refresh.New(refresh.Config{Endpoint: a.Endpoint})
	if err != nil {
		return err
	}
	up, err := c.RefreshUploadMedia(ctx, a.Key)
	if err != nil {
		return err
	}
	body := "[Credentials]\nlanguage=EN\nendpoint=" + up.Address.Endpoint + "\naccessKeyID=" + up.Credential.AccessKeyID +
		"\naccessKeySecret=" + up.Credential.AccessKeySecret.Reveal() + "\nstsToken=" + up.Credential.SecurityToken.Reveal() + "\n"
	if err := os.WriteFile(a.File, []byte(body), 0o600); err != nil {
		return err
	}
	fmt.Printf("oss://%s/%s\n", up.Address.Bucket, up.Address.FileName)
	return nil
}
