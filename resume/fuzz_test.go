package resume

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary bytes to Load as a checkpoint file. Load must
// never panic and must fail only with *CorruptError; whatever it accepts
// must re-save and re-load equal (apart from Updated, which Save sets).
func FuzzLoad(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "fuzz", "*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/fuzz: %v", err)
	}
	for _, name := range seeds {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Lock the media the file claims to be, so the fuzzer gets past the
		// id check and into validation.
		var claim struct {
			MediaID string `json:"media_id"`
		}
		json.Unmarshal(data, &claim)
		id := claim.MediaID
		if id == "" {
			id = "m"
		}
		s, err := Open(t.TempDir(), WithClock(func() time.Time { return t0 }))
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.Lock(id)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if err := os.WriteFile(h.Path(), data, 0o600); err != nil {
			t.Fatal(err)
		}
		cp, err := h.Load()
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Load failed with %T %v, want *CorruptError", err, err)
			}
			return
		}
		if err := h.Save(cp); err != nil {
			t.Fatalf("a checkpoint Load accepted does not save: %v", err)
		}
		again, err := h.Load()
		if err != nil {
			t.Fatalf("a checkpoint Save wrote does not load: %v", err)
		}
		if a, b := normalize(cp), normalize(again); !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed the checkpoint:\n got %+v\nwant %+v", b, a)
		}
	})
}

// normalize puts every time in UTC so that equal instants compare equal
// whatever zone offset the file spelled them in.
func normalize(cp *Checkpoint) Checkpoint {
	c := *cp
	c.Created, c.Updated, c.Source.ModTime = c.Created.UTC(), c.Updated.UTC(), c.Source.ModTime.UTC()
	return c
}
