package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/internal/endpoint"
)

// faultList collects repeated --fault flags.
type faultList []string

func (f *faultList) String() string     { return fmt.Sprint(*f) }
func (f *faultList) Set(s string) error { *f = append(*f, s); return nil }

const emulatorHelp = `usage: reupload emulator [flags]

Runs a faithful ICE + OSS emulator on loopback until SIGINT/SIGTERM. When ready
it prints exactly one JSON line on stdout:
  {"ice_endpoint":…,"oss_endpoint":…,"region":…,"access_key_id":…,"access_key_secret":…,"media":[{"media_id":…,"title":…,"bucket":…,"object":…}]}
Logs go to stderr. Drive it with:
  ALIBABA_CLOUD_ACCESS_KEY_ID=<access_key_id> ALIBABA_CLOUD_ACCESS_KEY_SECRET=<access_key_secret> \
    reupload put --endpoint <ice_endpoint> <media_id> FILE

ICE serves RefreshUploadMedia, GetMediaInfo and SearchMedia (2020-11-09), signed
with ACS3-HMAC-SHA256 or the older RPC HMAC-SHA1 (Format=XML answers in XML).
GetMediaInfo reports the source's real size and a signed FileUrl; after an
overwrite it keeps the old file with Status Uploading for --ice-lag.

--deny ACTION (repeatable) adds a second caller key to the JSON line,
"denied_access_key_id"/"denied_access_key_secret" with "denied_actions", that ICE
refuses with 403 Forbidden.RAM for those actions (RefreshUploadMedia,
GetMediaInfo, SearchMedia) and serves for the rest; the main key is unaffected.
An OSS action (oss:ListMultipartUploads, say) makes that key an STS caller
whose policy lacks it, so OSS answers AccessDenied.

--fault SPEC (repeatable) injects failures. ICE: ACTION[:nth=N|every=N|times=N][:STATUS[:CODE]][:corrupt=base64|json|missing-field|expired][:swap]
OSS: OP[:nth=N|every=N|frac=F|times=N][:STATUS[:CODE]|:reset|:stall=DUR|:badcrc], OP one of UploadPart,
InitiateMultipartUpload, ListParts, CompleteMultipartUpload, AbortMultipartUpload, PutObject, GetObject, HeadObject, *.
Examples: UploadPart:nth=3:500:InternalError  UploadPart:every=5:reset  RefreshUploadMedia:nth=2:503:ServiceUnavailable

Flags:
`

func (e *env) emulator(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "HOST:PORT for ICE; OSS listens on PORT+1 (port 0: both random)")
	data := fs.String("data", "", "persist OSS objects in this directory (default: memory)")
	media := fs.Int("media", 1, "media to seed")
	ttl := fs.Duration("sts-ttl", 3000*time.Second, "lifetime of the upload credentials RefreshUploadMedia hands out")
	latency := fs.Duration("latency", 0, "latency added to every OSS response")
	var bw, totalBW sizeFlag
	fs.Var(&bw, "bandwidth", "per-connection OSS bandwidth cap, e.g. 10MiB (per second)")
	fs.Var(&totalBW, "total-bandwidth", "OSS bandwidth cap across all connections, e.g. 40MiB (per second)")
	qps := fs.Float64("qps", 0, "ICE throttling: calls per second per key before Throttling.User (0: none)")
	var faults, deny faultList
	fs.Var(&faults, "fault", "inject a fault (repeatable; grammar above)")
	lag := fs.Duration("ice-lag", 2*time.Second, "how long GetMediaInfo shows the old source (Status Uploading) after an overwrite; 0: at once")
	fs.Var(&deny, "deny", "add a key ICE refuses with Forbidden.RAM for this action (repeatable; see above)")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return e.help(fs, emulatorHelp)
	}
	if err == nil && len(pos) > 0 {
		err = usagef("emulator takes no arguments, got %q", pos)
	}
	if err == nil && (*media < 0 || *media > 100000) {
		err = usagef("--media %d: want 0..100000", *media)
	}
	if err == nil && *lag < 0 {
		err = usagef("--ice-lag %s: want 0 or more", *lag)
	}
	if err == nil && *ttl < time.Second {
		err = usagef("--sts-ttl %s: want at least 1s", *ttl)
	}
	iceAddr, ossAddr := "", ""
	if err == nil {
		iceAddr, ossAddr, err = splitAddr(*addr)
	}
	if err != nil {
		return e.fail(err, false, "")
	}
	n := *media
	if n == 0 {
		n = -1
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	em, err := emulator.Start(emulator.Config{
		ICEAddr: iceAddr, OSSAddr: ossAddr, DataDir: *data, Media: n, STSTTL: *ttl,
		Latency: *latency, ConnBandwidth: bw.v, TotalBandwidth: totalBW.v, Faults: faults, QPS: *qps, Logger: logger,
		MediaLag: *lag, Deny: deny,
	})
	if err != nil {
		return e.fail(usagef("%v; run 'reupload emulator -h' for the flags and the fault grammar", err), false, "")
	}
	defer em.Close()
	writeJSON(e.stdout, em.Info())
	<-ctx.Done()
	logger.Info("emulator stopping")
	return reupload.ExitOK
}

// splitAddr validates --addr and derives the OSS address (PORT+1). Only
// loopback hosts are allowed: the emulator hands out keys in clear text.
func splitAddr(addr string) (string, string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", usagef("--addr %q: want HOST:PORT, e.g. 127.0.0.1:0", addr)
	}
	if !endpoint.IsLoopback(host) {
		return "", "", usagef("--addr %q: the emulator listens on loopback only (127.0.0.1, ::1, localhost)", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65534 {
		return "", "", usagef("--addr %q: bad port", addr)
	}
	if p == 0 {
		return addr, net.JoinHostPort(host, "0"), nil
	}
	return addr, net.JoinHostPort(host, strconv.Itoa(p+1)), nil
}
