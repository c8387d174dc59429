package ossupload

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"go.uber.org/goleak"
	"golang.org/x/time/rate"

	"github.com/reupload/reupload/resume"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// crcTable is hash/crc64's: the tests check the engine (which uses
// internal/crc64x) against the standard library.
var crcTable = crc64.MakeTable(crc64.ECMA)

// memAPI is a small in-memory PartAPI double that checks credentials the way
// OSS does: a request signed with a credential older than the newest issued
// one, or past its expiry, is answered SecurityTokenExpired.
type memAPI struct {
	mu        sync.Mutex
	object    []byte
	uploads   map[string]map[int][]byte
	next      int
	creds     CredentialsSource
	valid     func(Credentials) bool
	fail      func(op string, n int, in *PartInput) error // injected failure for the n-th call of op
	calls     map[string]int
	sent      int64
	badCRC    map[int]int                 // part number -> times to lie about the CRC
	noCRC     bool                        // Complete and HeadObject report no CRC-64
	noListCRC bool                        // ListParts lists no HashCrc64ecma
	head      func(ObjectInfo) ObjectInfo // when set, rewrites what HeadObject answers
	withMD5   int                         // parts that came with a (correct) Content-MD5
}

func newMemAPI(old []byte) *memAPI {
	return &memAPI{object: old, uploads: map[string]map[int][]byte{}, calls: map[string]int{}, badCRC: map[int]int{}}
}

func (m *memAPI) check(ctx context.Context, op string, in *PartInput) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	m.calls[op]++
	n := m.calls[op]
	m.mu.Unlock()
	if m.valid != nil && !m.valid(m.creds.Current()) {
		return &OSSError{Op: op, Status: 403, Code: "SecurityTokenExpired", Message: "The security token you provided has expired."}
	}
	if m.fail != nil {
		return m.fail(op, n, in)
	}
	return nil
}

func (m *memAPI) InitiateMultipartUpload(ctx context.Context, key string) (string, error) {
	if err := m.check(ctx, "InitiateMultipartUpload", nil); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	id := fmt.Sprintf("UP%d", m.next)
	m.uploads[id] = map[int][]byte{}
	return id, nil
}

func noSuchUpload(op string) error {
	return &OSSError{Op: op, Status: 404, Code: "NoSuchUpload"}
}

func (m *memAPI) UploadPart(ctx context.Context, in PartInput) (PartOutput, error) {
	if err := m.check(ctx, "UploadPart", &in); err != nil {
		io.Copy(io.Discard, io.LimitReader(in.Body, in.Size/2))
		return PartOutput{}, err
	}
	b, err := io.ReadAll(in.Body)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent += int64(len(b))
	if err != nil {
		return PartOutput{}, err
	}
	if int64(len(b)) != in.Size {
		return PartOutput{}, io.ErrUnexpectedEOF
	}
	up, ok := m.uploads[in.UploadID]
	if !ok {
		return PartOutput{}, noSuchUpload("UploadPart")
	}
	up[in.PartNumber] = b
	sum := md5.Sum(b)
	if in.ContentMD5 != "" {
		if in.ContentMD5 != base64.StdEncoding.EncodeToString(sum[:]) {
			return PartOutput{}, &OSSError{Op: "UploadPart", Status: 400, Code: "InvalidDigest"}
		}
		m.withMD5++
	}
	crc := crc64.Checksum(b, crcTable)
	if m.badCRC[in.PartNumber] > 0 {
		m.badCRC[in.PartNumber]--
		crc++
	}
	return PartOutput{ETag: `"` + strings.ToUpper(hex.EncodeToString(sum[:])) + `"`, CRC64: crc, HasCRC: true}, nil
}

func (m *memAPI) ListParts(ctx context.Context, key, id string) ([]ListedPart, error) {
	if err := m.check(ctx, "ListParts", nil); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	up, ok := m.uploads[id]
	if !ok {
		return nil, noSuchUpload("ListParts")
	}
	var out []ListedPart
	for n, b := range up {
		sum := md5.Sum(b)
		out = append(out, ListedPart{PartNumber: n, ETag: `"` + strings.ToUpper(hex.EncodeToString(sum[:])) + `"`, Size: int64(len(b)),
			CRC64: crc64.Checksum(b, crcTable), HasCRC: !m.noListCRC})
	}
	slices.SortFunc(out, func(a, b ListedPart) int { return a.PartNumber - b.PartNumber })
	return out, nil
}

func (m *memAPI) CompleteMultipartUpload(ctx context.Context, key, id string, parts []CompletedPart) (ObjectInfo, error) {
	if err := m.check(ctx, "CompleteMultipartUpload", nil); err != nil {
		return ObjectInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	up, ok := m.uploads[id]
	if !ok {
		return ObjectInfo{}, noSuchUpload("CompleteMultipartUpload")
	}
	var obj []byte
	for i, p := range parts {
		b, ok := up[p.PartNumber]
		sum := md5.Sum(b)
		if !ok || !sameETag(p.ETag, hex.EncodeToString(sum[:])) {
			return ObjectInfo{}, &OSSError{Op: "CompleteMultipartUpload", Status: 400, Code: "InvalidPart"}
		}
		if i < len(parts)-1 && len(b) < MinPartSize {
			return ObjectInfo{}, &OSSError{Op: "CompleteMultipartUpload", Status: 400, Code: "EntityTooSmall"}
		}
		obj = append(obj, b...)
	}
	m.object = obj
	delete(m.uploads, id)
	return ObjectInfo{Size: -1, ETag: `"X-1"`, CRC64: crc64.Checksum(obj, crcTable), HasCRC: !m.noCRC}, nil
}

func (m *memAPI) AbortMultipartUpload(ctx context.Context, key, id string) error {
	if err := m.check(ctx, "AbortMultipartUpload", nil); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.uploads[id]; !ok {
		return noSuchUpload("AbortMultipartUpload")
	}
	delete(m.uploads, id)
	return nil
}

func (m *memAPI) HeadObject(ctx context.Context, key string) (ObjectInfo, error) {
	if err := m.check(ctx, "HeadObject", nil); err != nil {
		return ObjectInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	info := ObjectInfo{Size: int64(len(m.object)), CRC64: crc64.Checksum(m.object, crcTable), HasCRC: !m.noCRC}
	if m.head != nil {
		info = m.head(info)
	}
	return info, nil
}

func (m *memAPI) Calls(op string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[op]
}

// memStore is an in-memory StateStore.
type memStore struct {
	mu    sync.Mutex
	cp    *resume.Checkpoint
	saves int
}

func (s *memStore) Load() (*resume.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cp == nil {
		return nil, fs.ErrNotExist
	}
	c := *s.cp
	c.Parts = slices.Clone(s.cp.Parts)
	return &c, nil
}

func (s *memStore) Save(cp *resume.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *cp
	c.Parts = slices.Clone(cp.Parts)
	s.cp = &c
	s.saves++
	return nil
}

func (s *memStore) Remove() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cp = nil
	return nil
}

// authority mints numbered credentials; the newest is the only valid one.
type authority struct {
	mu    sync.Mutex
	n     int
	calls atomic.Int64
	now   func() time.Time
	ttl   time.Duration
	tgt   Target
}

func (a *authority) Authorize(ctx context.Context) (Grant, error) {
	a.calls.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	var exp time.Time
	if a.ttl > 0 {
		exp = a.now().Add(a.ttl)
	}
	t := a.tgt
	if t.Bucket == "" {
		t = Target{Endpoint: "http://127.0.0.1:1", Bucket: "b", Key: "k"}
	}
	return Grant{Target: t, Credentials: Credentials{AccessKeyID: fmt.Sprintf("STS.%d", a.n), AccessKeySecret: "s3cr3t", SecurityToken: "tok3n"}}.withExpiry(exp), nil
}

func (g Grant) withExpiry(t time.Time) Grant { g.Credentials.Expires = t; return g }

func (a *authority) newest() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return fmt.Sprintf("STS.%d", a.n)
}

type fixture struct {
	api    *memAPI
	auth   *authority
	store  *memStore
	data   []byte
	opts   Options
	sleeps atomic.Int64
}

func newFixture(t *testing.T, size int) *fixture {
	t.Helper()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	f := &fixture{api: newMemAPI([]byte("old source")), auth: &authority{now: time.Now}, store: &memStore{}, data: data}
	f.opts = Options{
		PartSize: MinPartSize, Concurrency: 4, State: f.store, MediaID: "m1",
		NewAPI: func(t Target, c CredentialsSource) (PartAPI, error) { f.api.creds = c; return f.api, nil },
		Sleep:  func(ctx context.Context, d time.Duration) error { f.sleeps.Add(1); return ctx.Err() },
	}
	return f
}

func (f *fixture) source() Source {
	return Source{R: bytes.NewReader(f.data), Size: int64(len(f.data)), Fingerprint: resume.Fingerprint{Path: "/x", Size: int64(len(f.data)), Sample: "abc"}}
}

func (f *fixture) run(t *testing.T, ctx context.Context) (*Result, error) {
	t.Helper()
	return Upload(ctx, f.auth, f.source(), f.opts)
}

func (f *fixture) mustMatch(t *testing.T, res *Result) {
	t.Helper()
	if !bytes.Equal(f.api.object, f.data) {
		t.Fatalf("object differs from the source: %d bytes vs %d", len(f.api.object), len(f.data))
	}
	if want := crc64.Checksum(f.data, crcTable); res.CRC64 != want {
		t.Fatalf("result CRC %d, want %d", res.CRC64, want)
	}
	if f.store.cp != nil {
		t.Fatalf("checkpoint left after success: %+v", f.store.cp)
	}
}

func TestUploadSizes(t *testing.T) {
	for _, size := range []int{0, 1, MinPartSize - 1, MinPartSize, 3 * MinPartSize, 3*MinPartSize + 17} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			f := newFixture(t, size)
			res, err := f.run(t, context.Background())
			if err != nil {
				t.Fatal(err)
			}
			f.mustMatch(t, res)
			wantParts := max(1, (size+MinPartSize-1)/MinPartSize)
			if res.Parts != wantParts || f.api.Calls("UploadPart") != wantParts {
				t.Fatalf("parts %d, UploadPart calls %d, want %d", res.Parts, f.api.Calls("UploadPart"), wantParts)
			}
			if res.BytesSent != int64(size) {
				t.Fatalf("sent %d bytes, want %d", res.BytesSent, size)
			}
		})
	}
}

// Every part fails at once with an expired token: exactly one refresh, and
// every part then succeeds on the same upload ID.
func TestExpiredTokenRefreshesOnce(t *testing.T) {
	f := newFixture(t, 16*MinPartSize)
	f.opts.Concurrency = 8
	var expiredOnce sync.Once
	gate := make(chan struct{})
	var arrived atomic.Int64
	f.api.valid = func(c Credentials) bool { return c.AccessKeyID == f.auth.newest() }
	f.api.fail = func(op string, n int, in *PartInput) error {
		if op != "UploadPart" {
			return nil
		}
		// Hold the first 8 parts until all are in flight, then expire the token under them.
		if n <= 8 {
			if arrived.Add(1) == 8 {
				close(gate)
			}
			<-gate
			expiredOnce.Do(func() { f.auth.mu.Lock(); f.auth.n++; f.auth.mu.Unlock() })
			if !f.api.valid(f.api.creds.Current()) {
				return &OSSError{Op: op, Status: 403, Code: "SecurityTokenExpired"}
			}
		}
		return nil
	}
	res, err := f.run(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
	if got := f.auth.calls.Load(); got != 2 {
		t.Fatalf("Authorize called %d times, want 2 (start + one refresh)", got)
	}
	if res.Refreshes != 1 || f.api.Calls("InitiateMultipartUpload") != 1 {
		t.Fatalf("refreshes %d, initiates %d; want 1 and 1", res.Refreshes, f.api.Calls("InitiateMultipartUpload"))
	}
}

// A credential past 80 % of its life is replaced before the next part, so no
// part ever fails.
func TestProactiveRefreshCostsNoFailedPart(t *testing.T) {
	f := newFixture(t, 10*MinPartSize)
	var clock atomic.Int64
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(clock.Load())) }
	f.auth.now, f.auth.ttl, f.opts.Now = now, 100*time.Second, now
	f.opts.Concurrency = 1
	var failed atomic.Int64
	f.api.valid = func(c Credentials) bool {
		ok := !now().After(c.Expires)
		if !ok {
			failed.Add(1)
		}
		return ok
	}
	f.api.fail = func(op string, n int, in *PartInput) error {
		if op == "UploadPart" {
			clock.Add(int64(30 * time.Second)) // each part takes 30 s of the 100 s lifetime
		}
		return nil
	}
	res, err := f.run(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
	if failed.Load() != 0 || res.Retries != 0 {
		t.Fatalf("%d requests hit an expired token, %d retries; want 0", failed.Load(), res.Retries)
	}
	if res.Refreshes < 3 {
		t.Fatalf("refreshes %d, want >= 3 over 300 s of 100 s credentials", res.Refreshes)
	}
}

func TestTransientFailuresRetryOnlyThePart(t *testing.T) {
	f := newFixture(t, 6*MinPartSize)
	f.api.fail = func(op string, n int, in *PartInput) error {
		switch {
		case op == "UploadPart" && n%3 == 0:
			return &OSSError{Op: op, Status: 503, Code: "ServiceUnavailable"}
		case op == "UploadPart" && n == 4:
			return io.ErrUnexpectedEOF
		case op == "CompleteMultipartUpload" && n == 1:
			return &OSSError{Op: op, Status: 500, Code: "InternalError"}
		}
		return nil
	}
	f.api.badCRC[2] = 1
	res, err := f.run(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
	if res.Retries == 0 || int(f.sleeps.Load()) != res.Retries {
		t.Fatalf("retries %d, sleeps %d", res.Retries, f.sleeps.Load())
	}
	if f.api.Calls("InitiateMultipartUpload") != 1 {
		t.Fatal("a transient failure restarted the upload")
	}
}

func TestFatalErrorKeepsOldObjectAndCheckpoint(t *testing.T) {
	f := newFixture(t, 4*MinPartSize)
	f.api.fail = func(op string, n int, in *PartInput) error {
		if op == "UploadPart" && in.PartNumber == 3 {
			return &OSSError{Op: op, Status: 403, Code: "AccessDenied", RequestID: "RID"}
		}
		return nil
	}
	_, err := f.run(t, context.Background())
	var pe *PartError
	var oe *OSSError
	if !errors.As(err, &pe) || !errors.As(err, &oe) || oe.Code != "AccessDenied" || pe.PartNumber != 3 {
		t.Fatalf("err = %v, want a PartError for part 3 wrapping AccessDenied", err)
	}
	if string(f.api.object) != "old source" {
		t.Fatal("old object changed")
	}
	if f.store.cp == nil || f.store.cp.UploadID == "" {
		t.Fatal("checkpoint not kept for resume")
	}
}

// A run cut off mid-upload resumes: only parts OSS lacks are sent again, and
// parts OSS holds but the checkpoint missed are adopted by their MD5.
func TestResumeSendsOnlyMissingParts(t *testing.T) {
	f := newFixture(t, 12*MinPartSize)
	f.opts.Concurrency = 1
	ctx, cancel := context.WithCancel(context.Background())
	f.api.fail = func(op string, n int, in *PartInput) error {
		if op == "UploadPart" && n == 6 {
			cancel() // the "kill" lands while part 6 is in flight
			return context.Canceled
		}
		return nil
	}
	if _, err := f.run(t, ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v, want canceled", err)
	}
	if f.store.cp == nil || len(f.store.cp.Parts) != 5 {
		t.Fatalf("checkpoint after kill: %+v", f.store.cp)
	}
	// Forget part 5 in the checkpoint, as if the kill had landed before its save.
	f.store.cp.Parts = f.store.cp.Parts[:4]
	f.api.fail = nil
	sentBefore := f.api.sent
	res, err := f.run(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
	if !res.Resumed || res.PartsReused != 5 {
		t.Fatalf("resumed=%v reused=%d, want true and 5", res.Resumed, res.PartsReused)
	}
	if got := f.api.sent - sentBefore; got != 7*MinPartSize {
		t.Fatalf("second run sent %d bytes, want %d (7 parts)", got, 7*MinPartSize)
	}
}

func TestResumeOfVanishedUploadStartsFresh(t *testing.T) {
	f := newFixture(t, 3*MinPartSize)
	f.store.cp = &resume.Checkpoint{Version: resume.Version, MediaID: "m1", Endpoint: "http://127.0.0.1:1", Bucket: "b", Key: "k", UploadID: "GONE", PartSize: MinPartSize, Source: f.source().Fingerprint}
	var events []Event
	var mu sync.Mutex
	f.opts.OnEvent = func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
	res, err := f.run(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
	if res.Resumed {
		t.Fatal("claims to have resumed a vanished upload")
	}
	if !slices.ContainsFunc(events, func(e Event) bool { return e.Kind == EventFreshStart && strings.Contains(e.Message, "GONE") }) {
		t.Fatalf("no fresh-start event naming the upload: %+v", events)
	}
}

func TestChangedSourceAbortsAndKeepsOldObject(t *testing.T) {
	f := newFixture(t, 3*MinPartSize)
	src := f.source()
	src.Check = func() error { return &SourceChangedError{Reason: "mtime moved"} }
	_, err := Upload(context.Background(), f.auth, src, f.opts)
	var sc *SourceChangedError
	if !errors.As(err, &sc) {
		t.Fatalf("err = %v, want SourceChangedError", err)
	}
	if string(f.api.object) != "old source" || len(f.api.uploads) != 0 || f.store.cp != nil {
		t.Fatalf("object %q, uploads %d, checkpoint %v: want old object, no upload, no checkpoint", f.api.object, len(f.api.uploads), f.store.cp)
	}
}

func TestShrunkSourceIsNotRetried(t *testing.T) {
	f := newFixture(t, 3*MinPartSize)
	src := f.source()
	src.R = bytes.NewReader(f.data[:2*MinPartSize+10]) // the file lost its tail after planning
	_, err := Upload(context.Background(), f.auth, src, f.opts)
	var sc *SourceChangedError
	if !errors.As(err, &sc) || f.sleeps.Load() != 0 {
		t.Fatalf("err = %v after %d sleeps, want SourceChangedError at once", err, f.sleeps.Load())
	}
}

func TestCredentialRejectedForeverGivesUp(t *testing.T) {
	f := newFixture(t, MinPartSize)
	f.api.valid = func(Credentials) bool { return false }
	_, err := f.run(t, context.Background())
	var ce *CredentialError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want CredentialError", err)
	}
	if got := f.auth.calls.Load(); got != 1+maxCredRefreshes {
		t.Fatalf("Authorize called %d times, want %d", got, 1+maxCredRefreshes)
	}
}

func TestTargetMoveRestartsUpload(t *testing.T) {
	f := newFixture(t, 4*MinPartSize)
	f.opts.Concurrency = 1
	f.api.valid = func(c Credentials) bool { return c.AccessKeyID == f.auth.newest() }
	f.api.fail = func(op string, n int, in *PartInput) error {
		if op == "UploadPart" && n == 2 {
			f.auth.mu.Lock()
			f.auth.n++
			f.auth.tgt = Target{Endpoint: "http://127.0.0.1:1", Bucket: "b", Key: "k2"}
			f.auth.mu.Unlock()
			return &OSSError{Op: op, Status: 403, Code: "SecurityTokenExpired"}
		}
		return nil
	}
	res, err := f.run(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Target.Key != "k2" || f.api.Calls("InitiateMultipartUpload") != 2 || f.api.Calls("AbortMultipartUpload") != 1 {
		t.Fatalf("key %s, initiates %d, aborts %d", res.Target.Key, f.api.Calls("InitiateMultipartUpload"), f.api.Calls("AbortMultipartUpload"))
	}
}

func TestPartSizeFor(t *testing.T) {
	for _, c := range []struct{ size, pref, want int64 }{
		{0, 0, DefaultPartSize},
		{1 << 30, 0, DefaultPartSize},
		{DefaultPartSize * MaxParts, 0, DefaultPartSize},
		{DefaultPartSize*MaxParts + 1, 0, 9 << 20},
		{100 << 30, 0, 11 << 20},
		{1 << 20, MinPartSize, MinPartSize},
		{MinPartSize*MaxParts + 1, MinPartSize, MinPartSize + 1},
	} {
		got := PartSizeFor(c.size, c.pref)
		if got != c.want {
			t.Errorf("PartSizeFor(%d, %d) = %d, want %d", c.size, c.pref, got, c.want)
		}
		if n := (c.size + got - 1) / got; n > MaxParts {
			t.Errorf("PartSizeFor(%d, %d) = %d gives %d parts", c.size, c.pref, got, n)
		}
	}
	for _, c := range []struct {
		size, part int64
		want       string
	}{
		{1 << 20, MinPartSize - 1, "below the OSS minimum"},
		{1 << 20, MaxPartSize + 1, "above the OSS maximum"},
		{MinPartSize*MaxParts + 1, MinPartSize, "over the OSS limit of 10000"},
		{MinPartSize * MaxParts, MinPartSize, ""},
	} {
		err := CheckPartSize(c.size, c.part)
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckPartSize(%d, %d) = %v, want %q", c.size, c.part, err, c.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want class
	}{
		{&OSSError{Status: 403, Code: "SecurityTokenExpired"}, classCredential},
		{&OSSError{Status: 403, Code: "InvalidAccessKeyId"}, classCredential},
		{&OSSError{Status: 403, Code: "InvalidSecurityToken"}, classCredential},
		{&OSSError{Status: 404, Code: "NoSuchUpload"}, classRestart},
		{&OSSError{Status: 500, Code: "InternalError"}, classRetryable},
		{&OSSError{Status: 503, Code: "ServiceUnavailable"}, classRetryable},
		{&OSSError{Status: 400, Code: "RequestTimeout"}, classRetryable},
		{&OSSError{Status: 400, Code: "InvalidDigest"}, classRetryable},
		{&OSSError{Status: 403, Code: "AccessDenied"}, classFatal},
		{&OSSError{Status: 403, Code: "RequestTimeTooSkewed"}, classFatal},
		{&OSSError{Status: 400, Code: "InvalidArgument"}, classFatal},
		{&ChecksumError{PartNumber: 1}, classRetryable},
		{io.ErrUnexpectedEOF, classRetryable},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), classRetryable},
		{context.Canceled, classFatal},
		{&url.Error{Op: "Put", URL: "http://x", Err: &SourceChangedError{Reason: "shorter"}}, classFatal},
		{errors.New("something else"), classFatal},
		{fromSDK("UploadPart", oss.ServiceError{StatusCode: 403, Code: "SecurityTokenExpired"}), classCredential},
	} {
		if got := classify(c.err); got != c.want {
			t.Errorf("classify(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	c := Credentials{AccessKeyID: "STS.id", AccessKeySecret: "SECRETVALUE", SecurityToken: "TOKENVALUE"}
	js, _ := json.Marshal(c)
	js2, _ := json.Marshal(Grant{Credentials: c})
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%s", c), fmt.Sprintf("%v", Grant{Credentials: c}), string(js), string(js2)} {
		if strings.Contains(s, "SECRETVALUE") || strings.Contains(s, "TOKENVALUE") || !strings.Contains(s, "STS.id") {
			t.Errorf("leaks or hides the wrong thing: %s", s)
		}
	}
}

func TestCheckEndpoint(t *testing.T) {
	for ep, ok := range map[string]bool{
		"https://oss-cn-shanghai.aliyuncs.com": true,
		"http://127.0.0.1:9000":                true,
		"http://localhost:9000":                true,
		"http://[::1]:9000":                    true,
		"http://oss-cn-shanghai.aliyuncs.com":  false,
		"http://10.0.0.1":                      false,
		"oss-cn-shanghai.aliyuncs.com":         false,
		"ftp://x":                              false,
	} {
		if _, err := CheckEndpoint(ep); (err == nil) != ok {
			t.Errorf("CheckEndpoint(%q) = %v, want ok=%v", ep, err, ok)
		}
	}
	if r := RegionFromEndpoint("oss-cn-hangzhou-internal.aliyuncs.com"); r != "cn-hangzhou" {
		t.Errorf("region %q", r)
	}
}

// The ramp doubles workers while throughput follows, and settles back on the
// last level that paid when it stops following.
func TestRamp(t *testing.T) {
	t0 := time.Unix(0, 0)
	for _, c := range []struct {
		name string
		// perConn is each connection's speed; capacity caps the sum (bytes/s).
		perConn, capacity float64
		want              int
		frozen            bool
	}{
		{"cpu-bound loopback", 200e6, 600e6, 8, true},
		{"slow connections, fat pipe", 8e6, 1e9, 32, true},
		{"slow connections, 120 MB/s pipe", 8e6, 120e6, 26, true},
		// 2 MiB/s in all: 16 MiB in flight (two parts) would take 8 s, so
		// it never doubles, and keeps measuring in case the link speeds up.
		{"2 MiB/s link", 8e6, 2 << 20, 2, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			const part = 8 << 20
			r := newRamp(part, AutoConcurrencyMax, t0)
			if r.jobs != AutoStartBytes/part {
				t.Fatalf("starts with %d workers, want %d (AutoStartBytes of parts)", r.jobs, AutoStartBytes/part)
			}
			now := t0
			most := r.jobs
			for round := 0; round < 10; round++ {
				rate := min(float64(r.jobs)*c.perConn, c.capacity)
				jobs := r.jobs
				for i := 0; i < jobs; i++ {
					now = now.Add(time.Duration(float64(part) / rate * float64(time.Second)))
					most = max(most, r.partDone(now, part))
				}
			}
			if r.jobs != c.want || r.frozen != c.frozen {
				t.Fatalf("settled on %d workers (frozen %v), want %d (frozen %v)", r.jobs, r.frozen, c.want, c.frozen)
			}
			if c.capacity < 4<<20 && most*part > AutoStartBytes {
				t.Fatalf("a slow link had %d parts in flight (%d MiB), more than AutoStartBytes", most, most*part>>20)
			}
		})
	}
	if r := newRamp(64<<20, AutoConcurrencyMax, t0); r.jobs != 1 {
		t.Fatalf("64 MiB parts start with %d workers, want 1", r.jobs)
	}
	if r := newRamp(MinPartSize, AutoConcurrencyMax, t0); r.jobs != AutoConcurrencyMax {
		t.Fatalf("100 KiB parts start with %d workers, want the maximum", r.jobs)
	}
}

func TestAutoConcurrencyUploads(t *testing.T) {
	f := newFixture(t, 40*MinPartSize)
	f.opts.Concurrency = 0
	res, err := f.run(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
}

// Restart starts a new upload and aborts the one the checkpoint named, so
// that nothing is left behind on OSS.
func TestRestartAbortsTheOldUpload(t *testing.T) {
	f := newFixture(t, 4*MinPartSize)
	f.opts.Concurrency = 1
	ctx, cancel := context.WithCancel(context.Background())
	f.api.fail = func(op string, n int, in *PartInput) error {
		if op == "UploadPart" && n == 2 {
			cancel()
			return context.Canceled
		}
		return nil
	}
	if _, err := f.run(t, ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v", err)
	}
	old := f.store.cp.UploadID
	f.api.fail = nil
	f.opts.Restart = true
	res, err := f.run(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
	if _, left := f.api.uploads[old]; left || res.Resumed || res.UploadID == old || f.api.Calls("AbortMultipartUpload") != 1 {
		t.Fatalf("old upload %s left %v, resumed %v, new upload %s, aborts %d", old, left, res.Resumed, res.UploadID, f.api.Calls("AbortMultipartUpload"))
	}
}

// An object whose CRC-64 OSS does not report cannot be verified, and the
// upload says so instead of claiming success.
func TestObjectWithoutCRCIsAnError(t *testing.T) {
	f := newFixture(t, 2*MinPartSize)
	f.api.noCRC = true
	_, err := f.run(t, context.Background())
	var me *MismatchError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "reports no CRC-64") {
		t.Fatalf("err = %v, want the unverifiable object reported as a *MismatchError (it was replaced)", err)
	}
}

// keepStore ignores Remove, like a run killed between Complete and removing
// its checkpoint.
type keepStore struct{ *memStore }

func (keepStore) Remove() error { return nil }

// A run killed after Complete but before it removed its checkpoint leaves a
// checkpoint whose upload is gone; the rerun finds the object already holds
// the source and sends nothing again.
func TestRerunAfterCompleteSendsNothing(t *testing.T) {
	f := newFixture(t, 5*MinPartSize)
	f.opts.State = keepStore{f.store}
	if _, err := f.run(t, context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.store.cp == nil {
		t.Fatal("setup: no checkpoint left behind")
	}
	parts := f.api.Calls("UploadPart")
	f.opts.State = f.store
	res, err := f.run(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
	if f.api.Calls("UploadPart") != parts || f.api.Calls("InitiateMultipartUpload") != 1 || !res.Resumed {
		t.Fatalf("rerun sent %d parts and initiated %d uploads (resumed %v); want nothing sent", f.api.Calls("UploadPart")-parts, f.api.Calls("InitiateMultipartUpload")-1, res.Resumed)
	}
	// A different object (another source) is not mistaken for done.
	f.store.cp = &resume.Checkpoint{Version: resume.Version, MediaID: "m1", Endpoint: "http://127.0.0.1:1", Bucket: "b", Key: "k", UploadID: "GONE", PartSize: MinPartSize, Source: f.source().Fingerprint}
	f.api.object = []byte("something else")
	if _, err := f.run(t, context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.api.Calls("UploadPart") != 2*parts {
		t.Fatalf("a foreign object was taken for this source: %d parts sent", f.api.Calls("UploadPart")-parts)
	}
}

// The rate limit is paid for every byte a part sends, and no read takes
// more than the limiter's burst at once.
func TestPartReaderPaysTheRateLimit(t *testing.T) {
	lim := rate.NewLimiter(rate.Limit(1), 1000) // 1 byte/s: no refill worth counting during the test
	data := bytes.Repeat([]byte("x"), 800)
	pr := &partReader{ctx: context.Background(), r: bytes.NewReader(data), left: int64(len(data)), crc: crc64.New(crcTable), limiter: lim}
	buf := make([]byte, 4096)
	total := 0
	for {
		n, err := pr.Read(buf)
		if n > lim.Burst() {
			t.Fatalf("read %d bytes at once, over the burst of %d", n, lim.Burst())
		}
		total += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	left, crc, err := pr.close()
	if total != 800 || left != 0 || err != nil || crc != crc64.Checksum(data, crcTable) {
		t.Fatalf("read %d bytes, %d left, err %v, crc %d", total, left, err, crc)
	}
	if tokens := lim.Tokens(); tokens > 201 || tokens < 199 {
		t.Fatalf("limiter has %.1f tokens left, want ~200: not every byte was paid for", tokens)
	}
	// A part bigger than the remaining budget waits for it, and gives up
	// when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pr = &partReader{ctx: ctx, r: bytes.NewReader(data), left: int64(len(data)), crc: crc64.New(crcTable), limiter: lim}
	if _, err := io.ReadAll(pr); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the cancelled context", err)
	}
}

// onlyReader hides every method but Read, as a pipe does.
type onlyReader struct {
	r    io.Reader
	read atomic.Int64
	fail error // returned once the source is exhausted, instead of EOF
}

func (o *onlyReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	o.read.Add(int64(n))
	if err == io.EOF && o.fail != nil {
		return n, o.fail
	}
	return n, err
}

func streamFP() resume.Fingerprint {
	return resume.Fingerprint{Path: "stream", Sample: strings.Repeat("0", 64)}
}

// A stream is uploaded from a bounded set of buffers: what has been read
// but not yet confirmed never exceeds (Concurrency+1) parts, a failed part
// is re-sent from memory, and the object is the stream, byte for byte.
func TestUploadStream(t *testing.T) {
	f := newFixture(t, 10*MinPartSize+777)
	f.opts.Concurrency = 2
	src := &onlyReader{r: bytes.NewReader(f.data)}
	var confirmed atomic.Int64
	f.opts.OnEvent = func(ev Event) {
		if ev.Kind == EventPartDone {
			confirmed.Add(1)
		}
	}
	f.api.fail = func(op string, n int, in *PartInput) error {
		if op != "UploadPart" {
			return nil
		}
		if ahead := src.read.Load() - confirmed.Load()*MinPartSize; ahead > 3*MinPartSize {
			t.Errorf("%d bytes read ahead of what OSS confirmed, over 3 parts", ahead)
		}
		if n == 3 {
			return &OSSError{Op: op, Status: 503, Code: "ServiceUnavailable"}
		}
		return nil
	}
	res, err := UploadStream(context.Background(), f.auth, src, streamFP(), f.opts)
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
	if res.Parts != 11 || res.Size != int64(len(f.data)) || res.Retries != 1 {
		t.Fatalf("parts %d, size %d, retries %d; want 11, %d, 1", res.Parts, res.Size, res.Retries, len(f.data))
	}
}

func TestUploadStreamEdges(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		f := newFixture(t, 0)
		res, err := UploadStream(context.Background(), f.auth, &onlyReader{r: bytes.NewReader(nil)}, streamFP(), f.opts)
		if err != nil {
			t.Fatal(err)
		}
		f.mustMatch(t, res)
	})
	t.Run("exact parts", func(t *testing.T) {
		f := newFixture(t, 3*MinPartSize)
		res, err := UploadStream(context.Background(), f.auth, &onlyReader{r: bytes.NewReader(f.data)}, streamFP(), f.opts)
		if err != nil {
			t.Fatal(err)
		}
		f.mustMatch(t, res)
		if res.Parts != 3 {
			t.Fatalf("%d parts, want 3 (no empty fourth)", res.Parts)
		}
	})
	// A failure, of OSS or of the stream, aborts: a stream cannot resume,
	// so nothing may stay behind, and the old object is untouched.
	for name, c := range map[string]struct {
		fail    func(op string, n int, in *PartInput) error
		readErr error
		want    func(error) bool
	}{
		"oss refuses": {
			fail: func(op string, n int, in *PartInput) error {
				if op == "UploadPart" && n == 2 {
					return &OSSError{Op: op, Status: 403, Code: "AccessDenied"}
				}
				return nil
			},
			want: func(err error) bool { var oe *OSSError; return errors.As(err, &oe) && oe.Code == "AccessDenied" },
		},
		"stream breaks": {
			readErr: errors.New("broken pipe"),
			want:    func(err error) bool { return errors.Is(err, ErrSourceUnreadable) },
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, 4*MinPartSize)
			f.api.fail = c.fail
			_, err := UploadStream(context.Background(), f.auth, &onlyReader{r: bytes.NewReader(f.data), fail: c.readErr}, streamFP(), f.opts)
			if !c.want(err) {
				t.Fatalf("err = %v", err)
			}
			if string(f.api.object) != "old source" || len(f.api.uploads) != 0 || f.store.cp != nil {
				t.Fatalf("object %q, %d uploads, checkpoint %v: want the old object, none, none", f.api.object, len(f.api.uploads), f.store.cp)
			}
		})
	}
}

// --md5 sends each part's Content-MD5, which OSS checks against the body.
func TestContentMD5(t *testing.T) {
	f := newFixture(t, 3*MinPartSize+5)
	f.opts.MD5 = true
	res, err := f.run(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.mustMatch(t, res)
	if f.api.withMD5 != 4 {
		t.Fatalf("%d of 4 parts carried a Content-MD5", f.api.withMD5)
	}
}

// Over a link of slow connections and a fat pipe (the WAN profile), the
// ramp reaches AutoConcurrencyMax from two workers in three rounds, where
// doubling took four: a 256 MiB file was nearly sent before it got there
// (auto reached 0.43 of the best fixed setting in the bench).
func TestRampReachesTheMaximumSoon(t *testing.T) {
	const part = 8 << 20
	now := time.Unix(0, 0)
	r := newRamp(part, AutoConcurrencyMax, now)
	for round := 1; round <= 3; round++ {
		jobs := r.jobs
		for i := 0; i < jobs; i++ {
			now = now.Add(time.Duration(float64(part) / (float64(jobs) * 8e6) * float64(time.Second)))
			r.partDone(now, part)
		}
	}
	if r.jobs != AutoConcurrencyMax {
		t.Fatalf("%d workers after three rounds, want %d", r.jobs, AutoConcurrencyMax)
	}
}
