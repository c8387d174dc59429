package ossupload

import (
	"bytes"
	"context"
	"errors"
	"hash/crc64"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/reupload/reupload/resume"
)

// countingReaderAt counts the source bytes the engine reads.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// sourceWith is the fixture's source with the given Identity, read through
// a counter.
func (f *fixture) sourceWith(identity string) (Source, *countingReaderAt) {
	src := f.source()
	src.Fingerprint.Identity = identity
	cr := &countingReaderAt{r: bytes.NewReader(f.data)}
	src.R = cr
	return src, cr
}

// killAfter makes the fixture's first run die while part n is in flight,
// with Concurrency 1, so that parts 1..n-1 are on OSS and checkpointed.
func (f *fixture) killAfter(t *testing.T, n int, identity string) {
	t.Helper()
	f.opts.Concurrency = 1
	ctx, cancel := context.WithCancel(context.Background())
	f.api.fail = func(op string, k int, in *PartInput) error {
		if op == "UploadPart" && k == n {
			cancel()
			return context.Canceled
		}
		return nil
	}
	src, _ := f.sourceWith(identity)
	if _, err := Upload(ctx, f.auth, src, f.opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v, want canceled", err)
	}
	f.api.fail = nil
	if f.store.cp == nil || len(f.store.cp.Parts) != n-1 {
		t.Fatalf("checkpoint after the kill: %+v", f.store.cp)
	}
}

// A file replaced between runs by another of the same size and mtime, and
// the same sampled windows, must not have the earlier run's parts trusted:
// its identity changed, so every adopted part is read again and checked
// against what OSS holds. The object ends byte-identical to the new file.
func TestResumeOfReplacedSourceRereadsAdoptedParts(t *testing.T) {
	for _, listCRC := range []bool{true, false} {
		name := map[bool]string{true: "by CRC listed", false: "by MD5 when OSS lists no CRC"}[listCRC]
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, 8*MinPartSize)
			f.api.noListCRC = !listCRC
			f.killAfter(t, 6, "inode-1")
			f.data[MinPartSize+100] ^= 0xff // part 2 differs in the new file
			src, read := f.sourceWith("inode-2")
			sentBefore := f.api.sent
			res, err := Upload(context.Background(), f.auth, src, f.opts)
			if err != nil {
				t.Fatal(err)
			}
			f.mustMatch(t, res)
			if res.PartsReused != 4 {
				t.Fatalf("reused %d parts, want 4 (part 2 changed)", res.PartsReused)
			}
			if got := f.api.sent - sentBefore; got != 4*MinPartSize {
				t.Fatalf("sent %d bytes, want 4 parts (2, 6, 7, 8)", got)
			}
			// All five listed parts were read to prove them, then the four
			// to send.
			if got := read.n.Load(); got != 9*MinPartSize {
				t.Fatalf("read %d bytes of the source, want %d", got, 9*MinPartSize)
			}
		})
	}
}

// The same file, untouched (same identity), is trusted: its adopted parts
// are not read again.
func TestResumeOfSameFileTrustsItsParts(t *testing.T) {
	f := newFixture(t, 8*MinPartSize)
	f.killAfter(t, 6, "inode-1")
	src, read := f.sourceWith("inode-1")
	res, err := Upload(context.Background(), f.auth, src, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
	if res.PartsReused != 5 || read.n.Load() != 3*MinPartSize {
		t.Fatalf("reused %d parts and read %d bytes; want 5 parts and only the 3 parts sent", res.PartsReused, read.n.Load())
	}
}

// A checkpoint whose part CRC was altered (still valid JSON) is caught
// before Complete when OSS lists the part's CRC: the part is proven by
// reading it, and the upload succeeds with the right CRC.
func TestAlteredCheckpointCRCIsCaughtBeforeComplete(t *testing.T) {
	f := newFixture(t, 8*MinPartSize)
	f.killAfter(t, 6, "inode-1")
	f.store.cp.Parts[1].CRC64++
	src, _ := f.sourceWith("inode-1")
	res, err := Upload(context.Background(), f.auth, src, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
}

// When OSS lists no CRC, an altered checkpoint CRC is seen only after
// Complete: the source is then read again to judge, and the object, which
// does hold the source, is reported so. When the source does not match
// either (its bytes changed under an unchanged identity, which only a
// clock reset allows), the result is a *MismatchError, never the error of
// a failure that left the old source intact.
func TestMismatchAfterCompleteIsAMismatchError(t *testing.T) {
	t.Run("altered CRC, object right", func(t *testing.T) {
		f := newFixture(t, 8*MinPartSize)
		f.api.noListCRC = true
		f.killAfter(t, 6, "inode-1")
		f.store.cp.Parts[1].CRC64++
		src, _ := f.sourceWith("inode-1")
		res, err := Upload(context.Background(), f.auth, src, f.opts)
		if err != nil {
			t.Fatal(err)
		}
		f.mustMatch(t, res)
	})
	t.Run("object differs", func(t *testing.T) {
		f := newFixture(t, 8*MinPartSize)
		f.api.noListCRC = true
		f.killAfter(t, 6, "inode-1")
		f.store.cp.Parts[0].CRC64++
		f.data[100] ^= 0xff // changed in place, identity kept: trusted, wrongly
		src, _ := f.sourceWith("inode-1")
		_, err := Upload(context.Background(), f.auth, src, f.opts)
		var me *MismatchError
		if !errors.As(err, &me) {
			t.Fatalf("err = %v, want a *MismatchError", err)
		}
		if f.store.cp != nil {
			t.Fatal("checkpoint of a completed upload left behind")
		}
	})
}

// Another upload that completes over this one between its Complete and its
// read-back is reported as such.
func TestAnotherUploadReplacedTheObject(t *testing.T) {
	f := newFixture(t, 3*MinPartSize)
	f.api.head = func(i ObjectInfo) ObjectInfo { i.CRC64 ^= 1; return i }
	_, err := f.run(t, context.Background())
	var me *MismatchError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "another upload replaced the object after this one") {
		t.Fatalf("err = %v, want a *MismatchError naming another upload", err)
	}
	if f.api.Calls("HeadObject") != 1 {
		t.Fatalf("HeadObject calls %d, want 1 read-back", f.api.Calls("HeadObject"))
	}
}

// A read-back that fails after Complete answered with a matching CRC is a
// warning, not a failure: the bytes were proven at Complete.
func TestReadBackFailureAfterMatchingCompleteWarns(t *testing.T) {
	f := newFixture(t, 3*MinPartSize)
	f.api.fail = func(op string, n int, in *PartInput) error {
		if op == "HeadObject" {
			return &OSSError{Op: op, Status: 403, Code: "AccessDenied"}
		}
		return nil
	}
	var warned atomic.Bool
	f.opts.OnEvent = func(e Event) {
		if e.Kind == EventVerifyKO {
			warned.Store(true)
		}
	}
	res, err := f.run(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
	if !warned.Load() {
		t.Fatal("no verify-ko event")
	}
}

// A source larger than 10,000 parts of 5 GiB is refused before anything
// is sent.
func TestUploadRefusesSourcesOverTheLimit(t *testing.T) {
	f := newFixture(t, 0)
	src := Source{R: bytes.NewReader(nil), Size: MaxObjectSize + 1, Fingerprint: f.source().Fingerprint}
	_, err := Upload(context.Background(), f.auth, src, f.opts)
	if err == nil || !strings.Contains(err.Error(), "over the OSS limit") {
		t.Fatalf("err = %v, want the limit named", err)
	}
	if f.api.Calls("InitiateMultipartUpload") != 0 || f.auth.calls.Load() != 0 {
		t.Fatalf("%d Initiate and %d Authorize calls for a source over the limit", f.api.Calls("InitiateMultipartUpload"), f.auth.calls.Load())
	}
	if err := CheckSize(MaxObjectSize); err != nil {
		t.Fatalf("the limit itself is refused: %v", err)
	}
}

// lostInitiate answers InitiateMultipartUpload the way a cancelled HTTP
// request does: OSS created the upload, but the answer is lost when the
// context is cancelled while it is on its way.
type lostInitiate struct {
	*memAPI
	cancel func()
}

func (l lostInitiate) InitiateMultipartUpload(ctx context.Context, key string) (string, error) {
	id, err := l.memAPI.InitiateMultipartUpload(ctx, key)
	l.cancel() // the signal lands while the answer is on its way
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	return id, err
}

// A signal during InitiateMultipartUpload does not lose the upload: the
// call finishes on a context the signal does not reach, and the upload ID
// is checkpointed before the signal is honoured, so status and abort see it.
func TestInitiateIsCheckpointedDespiteCancel(t *testing.T) {
	f := newFixture(t, 3*MinPartSize)
	ctx, cancel := context.WithCancel(context.Background())
	f.opts.NewAPI = func(t Target, c CredentialsSource) (PartAPI, error) {
		f.api.creds = c
		return lostInitiate{f.api, cancel}, nil
	}
	_, err := f.run(t, ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
	if len(f.api.uploads) != 1 {
		t.Fatalf("%d uploads on OSS, want 1", len(f.api.uploads))
	}
	if f.store.cp == nil || f.api.uploads[f.store.cp.UploadID] == nil {
		t.Fatalf("the upload on OSS is not in the checkpoint: %+v", f.store.cp)
	}
}

// A graceful stop lets the parts in flight finish, keeps them in the
// checkpoint and does not complete; the next run sends only the rest and
// completes.
func TestGracefulStopKeepsPartsInFlight(t *testing.T) {
	f := newFixture(t, 12*MinPartSize)
	stop, release := make(chan struct{}), make(chan struct{})
	var arrived atomic.Int32
	f.opts.Stop = stop
	f.opts.Concurrency = 4
	f.api.fail = func(op string, n int, in *PartInput) error {
		if op == "UploadPart" && n <= 4 {
			// The stop lands while all four workers have a part in flight.
			if arrived.Add(1) == 4 {
				close(stop)
				close(release)
			}
			<-release
		}
		return nil
	}
	_, err := f.run(t, context.Background())
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("err = %v, want ErrStopped", err)
	}
	const sent = 4
	if f.api.Calls("UploadPart") != sent || f.store.cp == nil || len(f.store.cp.Parts) != sent {
		t.Fatalf("%d parts sent, checkpoint %+v: want the 4 parts in flight finished and saved, no other started", f.api.Calls("UploadPart"), f.store.cp)
	}
	if f.api.Calls("CompleteMultipartUpload") != 0 {
		t.Fatal("completed after a stop")
	}
	f.api.fail = nil
	f.opts.Stop = nil
	res, err := f.run(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
	if res.PartsReused != sent || f.api.Calls("UploadPart") != 12 {
		t.Fatalf("rerun reused %d parts, %d UploadPart calls in all; want %d reused and 12 in all", res.PartsReused, f.api.Calls("UploadPart"), sent)
	}
}

// A stream stopped gracefully is aborted (it cannot resume) and says so; a
// second, hard stop during that abort ends it at once and says the upload
// is left on OSS.
func TestStreamStop(t *testing.T) {
	data := bytes.Repeat([]byte("s"), 6*MinPartSize)
	for _, hard := range []bool{false, true} {
		t.Run(map[bool]string{false: "graceful", true: "hard during abort"}[hard], func(t *testing.T) {
			f := newFixture(t, 0)
			stop := make(chan struct{})
			var once sync.Once
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f.opts.Stop = stop
			f.opts.PartSize = MinPartSize
			f.api.fail = func(op string, n int, in *PartInput) error {
				switch {
				case op == "UploadPart" && n == 2:
					once.Do(func() { close(stop) })
				case op == "AbortMultipartUpload" && hard:
					cancel() // the second Ctrl-C, while the abort is on its way
					return context.Canceled
				}
				return nil
			}
			_, err := UploadStream(ctx, f.auth, bytes.NewReader(data), resume.Fingerprint{Path: "stream", Sample: strings.Repeat("0", 64)}, f.opts)
			var si *StreamInterruptedError
			if !errors.As(err, &si) {
				t.Fatalf("err = %v, want a *StreamInterruptedError", err)
			}
			if si.Aborted == hard || len(f.api.uploads) != map[bool]int{false: 0, true: 1}[hard] {
				t.Fatalf("aborted=%v with %d uploads left on OSS (hard=%v)", si.Aborted, len(f.api.uploads), hard)
			}
			if hard && (f.store.cp == nil || !strings.Contains(err.Error(), f.store.cp.UploadID)) {
				t.Fatalf("an upload left on OSS must keep its checkpoint and be named: %v, %+v", err, f.store.cp)
			}
			if f.api.Calls("CompleteMultipartUpload") != 0 {
				t.Fatal("completed after a stop")
			}
		})
	}
}

// SkipIdentical sends nothing when the object already holds the source,
// reading the source only when the sizes match and its CRC is not known;
// a different object, or a HeadObject the credential may not make, means
// upload.
func TestSkipIdentical(t *testing.T) {
	t.Run("identical", func(t *testing.T) {
		f := newFixture(t, 3*MinPartSize)
		f.api.object = bytes.Clone(f.data)
		f.opts.SkipIdentical = true
		src, read := f.sourceWith("i")
		res, err := Upload(context.Background(), f.auth, src, f.opts)
		if err != nil || !res.Unchanged {
			t.Fatalf("res %+v, err %v; want unchanged", res, err)
		}
		if f.api.Calls("InitiateMultipartUpload")+f.api.Calls("UploadPart") != 0 || read.n.Load() != 3*MinPartSize {
			t.Fatalf("%d calls sent, %d bytes read; want none sent and the source read once", f.api.Calls("InitiateMultipartUpload")+f.api.Calls("UploadPart"), read.n.Load())
		}
	})
	t.Run("known CRC is not read", func(t *testing.T) {
		f := newFixture(t, 3*MinPartSize)
		f.api.object = bytes.Clone(f.data)
		f.opts.SkipIdentical = true
		src, read := f.sourceWith("i")
		src.CRC64, src.HasCRC = crc64.Checksum(f.data, crcTable), true
		res, err := Upload(context.Background(), f.auth, src, f.opts)
		if err != nil || !res.Unchanged || read.n.Load() != 0 {
			t.Fatalf("res %+v, err %v, read %d; want unchanged without reading", res, err, read.n.Load())
		}
	})
	t.Run("same size, other bytes", func(t *testing.T) {
		f := newFixture(t, 3*MinPartSize)
		f.api.object = bytes.Clone(f.data)
		f.api.object[7] ^= 1
		f.opts.SkipIdentical = true
		res, err := f.run(t, context.Background())
		if err != nil || res.Unchanged {
			t.Fatalf("res %+v, err %v; want uploaded", res, err)
		}
		f.mustMatch(t, res)
	})
	t.Run("head refused", func(t *testing.T) {
		f := newFixture(t, 3*MinPartSize)
		f.api.object = bytes.Clone(f.data)
		f.opts.SkipIdentical = true
		f.api.fail = func(op string, n int, in *PartInput) error {
			if op == "HeadObject" && n == 1 {
				return &OSSError{Op: op, Status: 403, Code: "AccessDenied"}
			}
			return nil
		}
		var warned atomic.Bool
		f.opts.OnEvent = func(e Event) { warned.CompareAndSwap(false, e.Kind == EventSkipCheckKO) }
		res, err := f.run(t, context.Background())
		if err != nil || res.Unchanged || !warned.Load() {
			t.Fatalf("res %+v, err %v, warned %v; want uploaded with a warning", res, err, warned.Load())
		}
		f.mustMatch(t, res)
	})
	t.Run("unfinished upload discarded", func(t *testing.T) {
		f := newFixture(t, 3*MinPartSize)
		f.killAfter(t, 2, "i")
		f.api.object = bytes.Clone(f.data)
		f.opts.SkipIdentical = true
		src, _ := f.sourceWith("i")
		res, err := Upload(context.Background(), f.auth, src, f.opts)
		if err != nil || !res.Unchanged || f.store.cp != nil || len(f.api.uploads) != 0 {
			t.Fatalf("res %+v, err %v, checkpoint %v, %d uploads left; want unchanged and nothing left", res, err, f.store.cp, len(f.api.uploads))
		}
	})
}

// sentRecorder is a SentProgress that checks its contract as it goes.
type sentRecorder struct {
	t        *testing.T
	mu       sync.Mutex
	sent     map[int]int64
	done     map[int]bool
	rollback int
}

func (s *sentRecorder) Start(int64, int64) {}

func (s *sentRecorder) PartDone(n int, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent[n] != size {
		s.t.Errorf("part %d done with %d bytes counted as sent, want %d", n, s.sent[n], size)
	}
	s.done[n] = true
}

func (s *sentRecorder) PartSent(n int, b int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent[n] += b
	if b < 0 {
		s.rollback++
	}
	if s.sent[n] < 0 || s.sent[n] > MinPartSize || s.done[n] {
		s.t.Errorf("part %d: %d bytes counted (after %+d; done %v)", n, s.sent[n], b, s.done[n])
	}
}

// Byte-level progress counts bytes as they leave, and takes back those of
// an attempt that failed, so that the count never runs ahead of the part
// and equals it when OSS confirms the part.
func TestSentProgressRollsBackFailedAttempts(t *testing.T) {
	f := newFixture(t, 4*MinPartSize)
	rec := &sentRecorder{t: t, sent: map[int]int64{}, done: map[int]bool{}}
	f.opts.Progress = rec
	f.api.fail = func(op string, n int, in *PartInput) error {
		if op == "UploadPart" && n == 2 {
			return &OSSError{Op: op, Status: 503, Code: "ServiceUnavailable"}
		}
		return nil
	}
	res, err := f.run(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
	if rec.rollback != 1 || len(rec.done) != 4 {
		t.Fatalf("%d rollbacks, %d parts done; want 1 and 4", rec.rollback, len(rec.done))
	}
}
