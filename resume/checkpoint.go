package resume

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"
)

// Version is the checkpoint and done-marker format version. Load treats any
// other value as corrupt, so a format change starts uploads afresh rather
// than misreading old state.
const Version = 1

// MaxParts is the largest part number OSS accepts in a multipart upload.
const MaxParts = 10000

// maxFileSize bounds what Load reads: a checkpoint with MaxParts parts is
// well under 2 MiB, so anything larger is not ours.
const maxFileSize = 4 << 20

// Part is one part OSS has confirmed with an ETag.
type Part struct {
	Number int    `json:"number"` // 1..MaxParts
	Size   int64  `json:"size"`
	ETag   string `json:"etag"`  // as returned by UploadPart, quotes included
	CRC64  uint64 `json:"crc64"` // CRC-64/ECMA of the part, as OSS computes it
}

// Checkpoint is the resumable state of one multipart upload. It holds no
// secrets: credentials come fresh from ICE on every run.
type Checkpoint struct {
	Version  int    `json:"version"`  // Save fills in Version when zero
	MediaID  string `json:"media_id"` // Save fills it from the Handle when empty
	Endpoint string `json:"endpoint"`
	Bucket   string `json:"bucket"`
	Key      string `json:"key"`
	UploadID string `json:"upload_id"`
	PartSize int64  `json:"part_size"` // > 0

	Source Fingerprint `json:"source"`
	// Parts are the parts confirmed so far, ascending by Number. They are a
	// hint only: ListParts on OSS is the truth.
	Parts []Part `json:"parts"`

	Created time.Time `json:"created"` // Save fills it in when zero
	Updated time.Time `json:"updated"` // Save sets it on every call
}

// Validate reports why cp is not a well-formed checkpoint of this Version,
// or nil. Load turns a non-nil result into a *CorruptError; Save refuses to
// write a checkpoint that fails it.
func (cp *Checkpoint) Validate() error {
	if cp == nil {
		return errors.New("nil checkpoint")
	}
	if cp.Version != Version {
		return fmt.Errorf("version %d, want %d", cp.Version, Version)
	}
	for _, f := range []struct{ name, v string }{
		{"media_id", cp.MediaID},
		{"endpoint", cp.Endpoint},
		{"bucket", cp.Bucket},
		{"key", cp.Key},
		{"upload_id", cp.UploadID},
	} {
		if f.v == "" {
			return fmt.Errorf("missing %s", f.name)
		}
	}
	if cp.PartSize <= 0 {
		return fmt.Errorf("part_size %d, want > 0", cp.PartSize)
	}
	if err := cp.Source.validate(); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	prev := 0
	for i, p := range cp.Parts {
		switch {
		case p.Number < 1 || p.Number > MaxParts:
			return fmt.Errorf("parts[%d]: number %d outside 1..%d", i, p.Number, MaxParts)
		case p.Number <= prev:
			return fmt.Errorf("parts[%d]: number %d not above previous %d", i, p.Number, prev)
		case p.Size < 0:
			return fmt.Errorf("parts[%d]: negative size %d", i, p.Size)
		case p.ETag == "":
			return fmt.Errorf("parts[%d]: missing etag", i)
		}
		prev = p.Number
	}
	return nil
}

// DoneRecord says that media MediaID was completed from a source with
// fingerprint Source. A batch rerun skips media whose record still matches
// the file on disk.
type DoneRecord struct {
	MediaID  string      `json:"media_id"` // MarkDone fills it in when empty
	UploadID string      `json:"upload_id"`
	Size     int64       `json:"size"`
	CRC64    uint64      `json:"crc64"` // CRC-64/ECMA of the whole object
	Source   Fingerprint `json:"source"`
	Finished time.Time   `json:"finished"` // MarkDone fills it in when zero
}

func (r *DoneRecord) validate() error {
	if r.MediaID == "" {
		return errors.New("missing media_id")
	}
	if r.Size < 0 {
		return fmt.Errorf("negative size %d", r.Size)
	}
	if err := r.Source.validate(); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	return nil
}

// doneFile is the on-disk form of a DoneRecord: the record plus a Version.
type doneFile struct {
	Version int `json:"version"`
	DoneRecord
}

func (f *Fingerprint) validate() error {
	if f.Path == "" {
		return errors.New("missing path")
	}
	if f.Size < 0 {
		return fmt.Errorf("negative size %d", f.Size)
	}
	if len(f.Sample) != 64 {
		return fmt.Errorf("sample is %d characters, want 64 hex digits", len(f.Sample))
	}
	if _, err := hex.DecodeString(f.Sample); err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	return nil
}

// CorruptError reports a checkpoint or done marker that exists but cannot be
// trusted: unreadable, not JSON, a foreign Version, or failing validation.
// The caller should warn and start afresh; Save or Remove replaces the file.
type CorruptError struct {
	Path    string // the file
	MediaID string // the media it was looked up for; "" from List
	Err     error  // what is wrong
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt resume state %s: %v", e.Path, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// LockedError reports that another process, or another Handle in this
// process, holds the lock for MediaID.
type LockedError struct {
	MediaID string
	Path    string // the lock file
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("another reupload is already working on media %s (lock %s); wait for it or stop it",
		printable(e.MediaID), e.Path)
}

// printable returns s as is when it is plain printable text, else quoted, so
// that an id holding control characters cannot rewrite the user's terminal.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == ' ' {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
