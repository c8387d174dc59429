package reupload_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/reupload/reupload"
	"github.com/reupload/reupload/refresh"
)

// FuzzManifest checks ParseManifest's promises on arbitrary input: it never
// panics; it either returns valid items (well-formed, unique MediaIds,
// non-empty sources, increasing line numbers) or an error that maps to exit
// code 2 and reads as one line; and what it accepts survives a round trip
// through JSON Lines (and CSV, where CSV can carry the sources). Seeds live
// in testdata/fuzz/FuzzManifest.
func FuzzManifest(f *testing.F) {
	const a, b = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	f.Add([]byte("media_id,source\n" + a + ",a.mp4\n" + b + ",\"b, with comma.mp4\"\n"))
	f.Add([]byte(`{"media_id":"` + a + `","source":"a.mp4"}` + "\n\n" + `{"media_id":"` + b + `","source":"dir/b.mp4"}`))
	f.Add([]byte(a + ",a.mp4\n" + a + ",b.mp4\n"))
	f.Add([]byte("media_id,source\n\"" + a + ",a.mp4\n"))
	f.Add([]byte(`{"media_id":"` + a + `","src":"a.mp4"}`))
	f.Add([]byte("\n \t\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := reupload.ParseManifest(bytes.NewReader(data), "m")
		if err != nil {
			if items != nil {
				t.Fatalf("items and an error: %d items, %v", len(items), err)
			}
			if code := reupload.ExitCode(err); code != reupload.ExitUsage {
				t.Fatalf("exit code %d for %v, want %d", code, err, reupload.ExitUsage)
			}
			var be *reupload.BatchError
			var ie *reupload.InputError
			if !errors.As(err, &be) && !errors.As(err, &ie) {
				t.Fatalf("error %T, want *BatchError or *InputError", err)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			var me *reupload.ManifestError
			if errors.As(err, &me) {
				lines := bytes.Count(data, []byte("\n")) + 1
				for i, l := range me.Lines {
					if l.Line < 1 || l.Line > lines || (i > 0 && l.Line < me.Lines[i-1].Line) {
						t.Fatalf("bad line numbers %v in a %d-line manifest", me.Lines, lines)
					}
				}
			}
			return
		}
		if len(items) == 0 {
			t.Fatal("no items and no error")
		}
		seen := map[string]bool{}
		for i, it := range items {
			if err := refresh.ValidateMediaID(it.MediaID); err != nil {
				t.Fatalf("item %d: accepted MediaId %q: %v", i, it.MediaID, err)
			}
			if it.Source == "" || seen[it.MediaID] {
				t.Fatalf("item %d: empty source or duplicate MediaId: %+v", i, it)
			}
			seen[it.MediaID] = true
			if it.Line < 1 || (i > 0 && it.Line <= items[i-1].Line) {
				t.Fatalf("item %d: line %d after %d", i, it.Line, items[max(i-1, 0)].Line)
			}
		}
		// JSON turns invalid UTF-8 into U+FFFD, and CSV cannot keep a
		// source's outer blanks or its CRs: those sources skip that trip.
		var jl bytes.Buffer
		jsonOK, csvOK := true, true
		for _, it := range items {
			line, err := json.Marshal(it)
			if err != nil {
				t.Fatal(err)
			}
			jl.Write(append(line, '\n'))
			jsonOK = jsonOK && utf8.ValidString(it.Source)
			csvOK = csvOK && it.Source == strings.TrimSpace(it.Source) && !strings.Contains(it.Source, "\r")
		}
		if jsonOK {
			roundTrip(t, "JSON Lines", jl.Bytes(), items)
		}
		if csvOK {
			var cb bytes.Buffer
			w := csv.NewWriter(&cb)
			w.Write([]string{"media_id", "source"})
			for _, it := range items {
				w.Write([]string{it.MediaID, it.Source})
			}
			w.Flush()
			roundTrip(t, "CSV", cb.Bytes(), items)
		}
	})
}

func roundTrip(t *testing.T, format string, data []byte, want []reupload.Item) {
	t.Helper()
	got, err := reupload.ParseManifest(bytes.NewReader(data), "round-trip")
	if err != nil {
		t.Fatalf("%s round trip of %d items refused: %v\n%s", format, len(want), err, data)
	}
	if len(got) != len(want) {
		t.Fatalf("%s round trip: %d items, want %d", format, len(got), len(want))
	}
	for i := range got {
		if got[i].MediaID != want[i].MediaID || got[i].Source != want[i].Source {
			t.Fatalf("%s round trip: item %d is %+v, want %+v", format, i, got[i], want[i])
		}
	}
}
