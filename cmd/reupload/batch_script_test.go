package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/reupload/reupload/internal/emulator"
	"github.com/reupload/reupload/resume"
)

// manifest NAME N SIZE [BADLINE...]: a CSV manifest (with header) of the
// first N seeded media, each with its own SIZE-byte source src-I.mp4.
// Each BADLINE (a 1-based line number) is spoilt: the first as a bad
// MediaId, the second as a duplicate of line 2, the rest as a missing field.
func cmdManifest(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: manifest NAME N SIZE [BADLINE...]")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	media := emu(ts).Info().Media
	lines := []string{"media_id,source"}
	for i := range n {
		src := fmt.Sprintf("src-%d.mp4", i)
		cmdMkfile(ts, false, []string{src, args[2]})
		lines = append(lines, media[i].MediaID+","+ts.MkAbs(src))
	}
	for j, a := range args[3:] {
		l, err := strconv.Atoi(a)
		ts.Check(err)
		switch j {
		case 0:
			lines[l-1] = "bad/id," + ts.MkAbs("src-0.mp4")
		case 1:
			lines[l-1] = lines[1]
		default:
			lines[l-1] = media[0].MediaID
		}
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
}

// icecalls N: the emulator's ICE answered exactly N calls so far.
func cmdICECalls(ts *testscript.TestScript, neg bool, args []string) {
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := emu(ts).ICE.Calls("RefreshUploadMedia") + emu(ts).ICE.Calls("GetMediaInfo")
	if (got == want) == !neg {
		return
	}
	ts.Fatalf("%d ICE calls, want %d", got, want)
}

// uploads N: exactly N multipart uploads are open on the emulator's OSS.
func cmdUploads(ts *testscript.TestScript, neg bool, args []string) {
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	if got := len(emu(ts).OSS.Uploads(emulator.Bucket)); got != want {
		ts.Fatalf("%d multipart uploads open on OSS, want %d", got, want)
	}
}

type resultRecord struct {
	MediaID   string  `json:"media_id"`
	Source    string  `json:"source"`
	Line      int     `json:"line"`
	Resumed   bool    `json:"resumed"`
	Status    string  `json:"status"`
	Bytes     int64   `json:"bytes"`
	Seconds   float64 `json:"seconds"`
	UploadID  string  `json:"upload_id"`
	Code      string  `json:"code"`
	Message   string  `json:"message"`
	RequestID string  `json:"request_id"`
}

func readResults(ts *testscript.TestScript, name string) []resultRecord {
	var text string
	if name == "stdout" {
		text = ts.ReadFile("stdout")
	} else {
		b, err := os.ReadFile(ts.MkAbs(name))
		ts.Check(err)
		text = string(b)
	}
	// A --results file holds runs, each opened by a header line; the
	// records are the last run's.
	var out []resultRecord
	sc := bufio.NewScanner(strings.NewReader(text))
	runs := 0
	for sc.Scan() {
		if name != "stdout" && bytes.HasPrefix(sc.Bytes(), []byte(`{"run":`)) {
			var h runHeader
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Run == "" || h.Media == 0 {
				ts.Fatalf("bad run header %q: %v", sc.Text(), err)
			}
			runs++
			out = nil
			continue
		}
		if name != "stdout" && runs == 0 {
			ts.Fatalf("%s: a record before any run header: %q", name, sc.Text())
		}
		var r resultRecord
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			ts.Fatalf("results line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// results FILE DONE FAILED SKIPPED [CODE=COUNT...]: FILE's last run (or
// stdout) holds one well-formed record per media, with these counts; done media hold their
// source on OSS, failed ones their old source and carry a code, message and
// request id.
func cmdResults(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 4 {
		ts.Fatalf("usage: results FILE DONE FAILED SKIPPED [CODE=COUNT...]")
	}
	recs := readResults(ts, args[0])
	objects := map[string]emulator.Media{}
	for _, m := range emu(ts).Info().Media {
		objects[m.MediaID] = m
	}
	counts, codes, seen := map[string]int{}, map[string]int{}, map[string]bool{}
	for _, r := range recs {
		if seen[r.MediaID] {
			ts.Fatalf("media %s reported twice", r.MediaID)
		}
		seen[r.MediaID] = true
		counts[r.Status]++
		m := objects[r.MediaID]
		got, err := emu(ts).OSS.ReadObject(m.Bucket, m.Object)
		ts.Check(err)
		switch r.Status {
		case "done":
			want, err := os.ReadFile(r.Source)
			ts.Check(err)
			if !bytes.Equal(got, want) || r.UploadID == "" || r.Bytes != int64(len(want)) || r.Code != "" {
				ts.Fatalf("done record %+v does not match OSS (%d bytes)", r, len(got))
			}
		case "failed":
			codes[r.Code]++
			if r.Code == "" || r.Message == "" || r.RequestID == "" {
				ts.Fatalf("failed record without code, message or request id: %+v", r)
			}
		case "skipped":
		default:
			ts.Fatalf("record with status %q", r.Status)
		}
	}
	got := fmt.Sprintf("%d %d %d", counts["done"], counts["failed"], counts["skipped"])
	if want := strings.Join(args[1:4], " "); got != want {
		ts.Fatalf("done/failed/skipped = %s, want %s", got, want)
	}
	for _, a := range args[4:] {
		code, n, _ := strings.Cut(a, "=")
		if strconv.Itoa(codes[code]) != n {
			ts.Fatalf("%d failures with code %s, want %s (all: %v)", codes[code], code, n, codes)
		}
	}
}

// cover N FILE...: the results files together name the first N media
// exactly once.
func cmdCover(ts *testscript.TestScript, neg bool, args []string) {
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	seen := map[string]int{}
	for _, f := range args[1:] {
		for _, r := range readResults(ts, f) {
			seen[r.MediaID]++
		}
	}
	for i, m := range emu(ts).Info().Media[:n] {
		if seen[m.MediaID] != 1 {
			ts.Fatalf("media %d (%s) appears %d times across %v", i, m.MediaID, seen[m.MediaID], args[1:])
		}
	}
	if len(seen) != n {
		ts.Fatalf("%d media across the shards, want %d", len(seen), n)
	}
}

// backdate DURATION: rewrite every checkpoint in $STATE as if it had been
// created and last updated DURATION ago, through the store's clock.
func cmdBackdate(ts *testscript.TestScript, neg bool, args []string) {
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	then := time.Now().Add(-d)
	store, err := resume.Open(ts.Getenv("STATE"), resume.WithClock(func() time.Time { return then }))
	ts.Check(err)
	cps, err := store.List()
	ts.Check(err)
	for _, cp := range cps {
		h, err := store.Lock(cp.MediaID)
		ts.Check(err)
		cp.Created = time.Time{}
		ts.Check(h.Save(cp))
		ts.Check(h.Close())
	}
}
