package osstest_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
	"github.com/reupload/reupload/ossupload/osstest"
)

// failures runs n HeadObjects and returns which (1-based) failed, checking each
// failure's status and code.
func failures(t *testing.T, b *oss.Bucket, n, status int, code string) []int {
	t.Helper()
	var failed []int
	for i := 1; i <= n; i++ {
		if _, err := b.GetObjectDetailedMeta("k"); err != nil {
			wantCode(t, err, status, code)
			failed = append(failed, i)
		}
	}
	return failed
}

func headServer(t *testing.T) (*osstest.Server, *oss.Bucket) {
	s := newServer(t, osstest.Options{})
	if err := s.PutObjectData(bucketName, "k", []byte("x")); err != nil {
		t.Fatal(err)
	}
	return s, bucket(t, s, rootAK, rootSK, v4Opts()...)
}

func TestFaultNth(t *testing.T) {
	s := newServer(t, osstest.Options{})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	s.AddFault(osstest.Fault{Op: "UploadPart", Nth: 3, Status: 500, Code: "InternalError"})
	imur := initiate(t, b, "k")
	for n := 1; n <= 5; n++ {
		_, err := b.UploadPart(imur, strings.NewReader("part"), 4, n)
		if n == 3 {
			wantCode(t, err, 500, "InternalError")
		} else if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
	}
	st := s.Stats()
	if st.Errors["InternalError"] != 1 || st.Requests["UploadPart"] != 5 {
		t.Fatalf("stats %+v", st)
	}
	// The failed part's body was still read: it counts as received.
	if st.PartBytesReceived != 5*4 {
		t.Fatalf("PartBytesReceived = %d", st.PartBytesReceived)
	}
}

func TestFaultEvery(t *testing.T) {
	s, b := headServer(t)
	s.AddFault(osstest.Fault{Op: "HeadObject", Every: 2, Status: 503})
	got := failures(t, b, 7, 503, "ServiceUnavailable")
	if want := []int{2, 4, 6}; !equalInts(got, want) {
		t.Fatalf("failed %v, want %v", got, want)
	}
}

func TestFaultFraction(t *testing.T) {
	run := func() []int {
		s, b := headServer(t)
		s.AddFault(osstest.Fault{Op: "HeadObject", Fraction: 0.25, Seed: 7, Code: "InternalError"})
		return failures(t, b, 400, 500, "InternalError")
	}
	first := run()
	if len(first) < 60 || len(first) > 140 {
		t.Fatalf("%d of 400 failed, want about 100", len(first))
	}
	if again := run(); !equalInts(first, again) {
		t.Fatal("the same seed gave a different sequence of failures")
	}
}

func TestFaultTimes(t *testing.T) {
	s, b := headServer(t)
	s.AddFault(osstest.Fault{Op: "HeadObject", Times: 2, Code: "SecurityTokenExpired"}) // status from the code
	_, err := b.GetObjectDetailedMeta("k")
	se := wantCode(t, err, 403, "SecurityTokenExpired")
	if se.Message != "The security token you provided has expired." {
		t.Fatalf("message %q", se.Message)
	}
	if got := failures(t, b, 5, 403, "SecurityTokenExpired"); !equalInts(got, []int{1}) {
		t.Fatalf("failed %v, want only the next one", got)
	}
}

func TestFaultTimesWithEvery(t *testing.T) {
	s, b := headServer(t)
	s.AddFault(osstest.Fault{Op: "*", Every: 2, Times: 2, Status: 500})
	if got := failures(t, b, 8, 500, "InternalError"); !equalInts(got, []int{2, 4}) {
		t.Fatalf("failed %v", got)
	}
}

func TestFaultReset(t *testing.T) {
	s := newServer(t, osstest.Options{})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	imur := initiate(t, b, "k")
	s.AddFault(osstest.Fault{Op: "UploadPart", Nth: 1, Reset: true})
	data := randomBytes(1<<20, 5)
	_, err := b.UploadPart(imur, bytes.NewReader(data), int64(len(data)), 1)
	var se oss.ServiceError
	if err == nil || errors.As(err, &se) {
		t.Fatalf("want a transport error, got %v", err)
	}
	if got := s.Stats().PartBytesReceived; got < int64(len(data)/2) || got >= int64(len(data)) {
		t.Fatalf("PartBytesReceived = %d, want about half of %d", got, len(data))
	}
	if ups := s.Uploads(bucketName); ups[0].Parts != 0 {
		t.Fatal("a reset part was stored")
	}
	if _, err := b.UploadPart(imur, bytes.NewReader(data), int64(len(data)), 1); err != nil {
		t.Fatalf("retry after reset: %v", err)
	}
}

func TestFaultStallClientTimeout(t *testing.T) {
	s := newServer(t, osstest.Options{})
	hc := &http.Client{Timeout: time.Second} // the other requests must fit in it even on a loaded machine
	defer hc.CloseIdleConnections()
	b := bucket(t, s, rootAK, rootSK, append(v4Opts(), oss.HTTPClient(hc))...)
	imur := initiate(t, b, "k")
	p, err := b.UploadPart(imur, strings.NewReader("last"), 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	s.AddFault(osstest.Fault{Op: "CompleteMultipartUpload", Nth: 1, Stall: time.Hour})
	start := time.Now()
	_, err = b.CompleteMultipartUpload(imur, []oss.UploadPart{p})
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("want a client timeout, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timed out after %v", d)
	}
	// The abandoned Complete never ran: the upload is still there.
	if len(s.Uploads(bucketName)) != 1 {
		t.Fatal("a stalled, abandoned Complete was applied")
	}
	if _, err := b.CompleteMultipartUpload(imur, []oss.UploadPart{p}); err != nil {
		t.Fatalf("Complete after the stall: %v", err)
	}
}

func TestFaultStallThenAnswer(t *testing.T) {
	s, b := headServer(t)
	s.AddFault(osstest.Fault{Op: "HeadObject", Nth: 1, Stall: 150 * time.Millisecond})
	s.AddFault(osstest.Fault{Op: "HeadObject", Nth: 2, Stall: 50 * time.Millisecond, Status: 503})
	start := time.Now()
	if _, err := b.GetObjectDetailedMeta("k"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("answered after %v, want at least the stall", d)
	}
	start = time.Now()
	_, err := b.GetObjectDetailedMeta("k")
	wantCode(t, err, 503, "ServiceUnavailable")
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
}

// A stall on a request with a body still notices the client leaving.
func TestFaultStallUploadPartBody(t *testing.T) {
	s := newServer(t, osstest.Options{})
	hc := &http.Client{Timeout: time.Second} // the other requests must fit in it even on a loaded machine
	defer hc.CloseIdleConnections()
	b := bucket(t, s, rootAK, rootSK, append(v4Opts(), oss.HTTPClient(hc))...)
	imur := initiate(t, b, "k")
	s.AddFault(osstest.Fault{Op: "UploadPart", Nth: 1, Stall: time.Hour})
	if _, err := b.UploadPart(imur, bytes.NewReader(randomBytes(200_000, 1)), 200_000, 1); err == nil {
		t.Fatal("want a timeout")
	}
	if _, err := b.UploadPart(imur, strings.NewReader("ok"), 2, 1); err != nil {
		t.Fatal(err)
	}
	if ups := s.Uploads(bucketName); ups[0].Parts != 1 || ups[0].Bytes != 2 {
		t.Fatalf("uploads %+v", ups)
	}
}

func TestFaultBadCRC(t *testing.T) {
	s := newServer(t, osstest.Options{})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	imur := initiate(t, b, "k")
	s.AddFault(osstest.Fault{Op: "UploadPart", Nth: 1, BadCRC: true})
	_, err := b.UploadPart(imur, strings.NewReader("data"), 4, 1)
	var crcErr oss.CRCCheckError
	if !errors.As(err, &crcErr) {
		t.Fatalf("want CRCCheckError, got %T %v", err, err)
	}
	if _, err := b.UploadPart(imur, strings.NewReader("data"), 4, 1); err != nil {
		t.Fatalf("second try: %v", err)
	}
	s.AddFault(osstest.Fault{Op: "PutObject", BadCRC: true})
	if err := b.PutObject("p", strings.NewReader("data")); !errors.As(err, &crcErr) {
		t.Fatalf("PutObject: want CRCCheckError, got %v", err)
	}
}

func TestFaultRemoveAndClear(t *testing.T) {
	s, b := headServer(t)
	remove := s.AddFault(osstest.Fault{Op: "HeadObject", Status: 500})
	s.AddFault(osstest.Fault{Op: "GetObject", Status: 500})
	if got := failures(t, b, 2, 500, "InternalError"); len(got) != 2 {
		t.Fatalf("failed %v", got)
	}
	remove()
	if got := failures(t, b, 2, 500, "InternalError"); len(got) != 0 {
		t.Fatalf("after remove: failed %v", got)
	}
	if _, err := b.GetObject("k"); err == nil {
		t.Fatal("the other fault went away too")
	}
	s.ClearFaults()
	rc, err := b.GetObject("k")
	if err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
	rc.Close()
}

func TestFaultInjectedNoSuchUploadNamesUpload(t *testing.T) {
	s := newServer(t, osstest.Options{})
	b := bucket(t, s, rootAK, rootSK, v4Opts()...)
	imur := initiate(t, b, "k")
	s.AddFault(osstest.Fault{Op: "UploadPart", Code: "NoSuchUpload"})
	_, err := b.UploadPart(imur, strings.NewReader("x"), 1, 1)
	se := wantCode(t, err, 404, "NoSuchUpload")
	if !strings.Contains(se.RawMessage, "<UploadId>"+imur.UploadID+"</UploadId>") {
		t.Fatalf("body %s", se.RawMessage)
	}
}

func TestParseFault(t *testing.T) {
	good := map[string]osstest.Fault{
		"UploadPart:nth=3:500:InternalError":          {Op: "UploadPart", Nth: 3, Status: 500, Code: "InternalError"},
		"UploadPart:every=5:reset":                    {Op: "UploadPart", Every: 5, Reset: true},
		"ListParts:frac=0.1:503:ServiceUnavailable":   {Op: "ListParts", Fraction: 0.1, Status: 503, Code: "ServiceUnavailable"},
		"CompleteMultipartUpload:nth=1:stall=2s":      {Op: "CompleteMultipartUpload", Nth: 1, Stall: 2 * time.Second},
		"UploadPart:times=2:403:SecurityTokenExpired": {Op: "UploadPart", Times: 2, Status: 403, Code: "SecurityTokenExpired"},
		"UploadPart:nth=2:badcrc":                     {Op: "UploadPart", Nth: 2, BadCRC: true},
		"*:status=503":                                {Op: "*", Status: 503},
		"HeadObject:code=NoSuchKey:seed=9:frac=1":     {Op: "HeadObject", Code: "NoSuchKey", Seed: 9, Fraction: 1},
		"GetObject:stall=100ms:500":                   {Op: "GetObject", Stall: 100 * time.Millisecond, Status: 500},
	}
	for spec, want := range good {
		got, err := osstest.ParseFault(spec)
		if err != nil || got != want {
			t.Errorf("ParseFault(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	bad := map[string]string{
		"":                             "missing operation",
		"Upload:500":                   `unknown operation "Upload"`,
		"UploadPart":                   "nothing to inject",
		"UploadPart:nth=0:500":         `bad value in "nth=0"`,
		"UploadPart:nth=x:500":         `bad value in "nth=x"`,
		"UploadPart:every=-1:500":      `bad value in "every=-1"`,
		"UploadPart:frac=1.5:500":      `bad value in "frac=1.5"`,
		"UploadPart:frac=0:500":        `bad value in "frac=0"`,
		"UploadPart:stall=soon":        `bad value in "stall=soon"`,
		"UploadPart:status=999":        `status "999": want an error status, 400..599`,
		"UploadPart:200:InternalError": `status "200": want an error status, 400..599`,
		"UploadPart:nth=1:every=2:500": "only one of nth, every and frac",
		"UploadPart:nth=1:nth=2:500":   "nth given twice",
		"UploadPart:reset:500":         "reset answers nothing",
		"UploadPart:badcrc:500":        "badcrc answers normally",
		"UploadPart:explode":           `unknown item "explode"`,
		"UploadPart:reset=yes":         `bad value in "reset=yes"`,
		"UploadPart:color=red":         `unknown item "color=red"`,
		"UploadPart::500":              `unknown item ""`,
	}
	for spec, want := range bad {
		_, err := osstest.ParseFault(spec)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseFault(%q) error = %v; want one line containing %q", spec, err, want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
