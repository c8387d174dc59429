package icetest_test

import (
	"strings"
	"testing"

	"github.com/reupload/reupload/refresh/icetest"
)

// FuzzParseFault checks the ICE --fault grammar on arbitrary specs: it never
// panics, every error is one line naming the spec, and every accepted fault
// is one the server can carry out (an action, non-negative counters, an
// HTTP error status with a code, or a corruption it knows, or a swap).
// Seeds live in testdata/fuzz/FuzzParseFault.
func FuzzParseFault(f *testing.F) {
	for _, s := range []string{
		"RefreshUploadMedia:nth=2:503:ServiceUnavailable",
		"RefreshUploadMedia:times=3:400:Throttling.User",
		"RefreshUploadMedia:nth=1:corrupt=base64",
		"RefreshUploadMedia:every=2:times=2:corrupt=expired:swap",
		"GetMediaInfo:404:message=a:b:c",
		"*:500",
		"RefreshUploadMedia:nth=0:500",
		"RefreshUploadMedia:corrupt=zzz",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ft, err := icetest.ParseFault(spec)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "icetest: fault ") || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error is not one line starting with the grammar's name: %q", msg)
			}
			return
		}
		if ft.Action == "" || strings.Contains(ft.Action, ":") {
			t.Fatalf("accepted %q with action %q", spec, ft.Action)
		}
		if ft.Nth < 0 || ft.Every < 0 || ft.Times < 0 {
			t.Fatalf("accepted %q with negative counters: %+v", spec, ft)
		}
		if ft.Status != 0 && (ft.Status < 400 || ft.Status > 599 || ft.Code == "") {
			t.Fatalf("accepted %q with status %d, code %q", spec, ft.Status, ft.Code)
		}
		switch ft.Corrupt {
		case "", icetest.CorruptBase64, icetest.CorruptJSON, icetest.CorruptMissingField, icetest.CorruptExpired:
		default:
			t.Fatalf("accepted %q with corruption %q", spec, ft.Corrupt)
		}
		if ft.Status == 0 && ft.Corrupt == "" && !ft.Swap {
			t.Fatalf("accepted %q, a fault that does nothing: %+v", spec, ft)
		}
		// Parsing is deterministic.
		if again, err := icetest.ParseFault(spec); err != nil || again != ft {
			t.Fatalf("second parse of %q: %+v, %v; first %+v", spec, again, err, ft)
		}
	})
}
