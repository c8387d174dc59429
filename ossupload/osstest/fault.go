package osstest

import (
	"bytes"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault makes matching requests fail. Op is an operation name as in Stats
// ("UploadPart", "CompleteMultipartUpload", "InitiateMultipartUpload",
// "ListParts", "AbortMultipartUpload", "PutObject", "GetObject", "HeadObject", …)
// or "*" for all.
//
// Which matching requests fail: the Nth, or every Every-th, or a Fraction of
// them, or (all three 0) every one; Times > 0 stops after that many
// injections. Each fault counts its own matching requests, before
// authentication. When several faults fire on one request, the first added wins.
type Fault struct {
	Op       string
	Nth      int           // fail only the Nth matching request (1-based); 0 = not used
	Every    int           // fail every Every-th matching request; 0 = not used
	Fraction float64       // fail this fraction of matching requests (seeded rand); 0 = not used
	Times    int           // stop after this many injections; 0 = unlimited  (Nth/Every/Fraction all 0 and Times>0 = the next Times requests)
	Status   int           // HTTP status of the injected error response, e.g. 500, 503, 403
	Code     string        // OSS error code, e.g. "InternalError", "SecurityTokenExpired", "RequestTimeTooSkewed", "NoSuchUpload"
	Reset    bool          // instead of answering: read half the request body then hijack and close the TCP connection (client sees a reset/EOF mid-body)
	Stall    time.Duration // hold the request this long (honouring client disconnect) before answering normally (or with Status/Code if set)
	BadCRC   bool          // process normally but send a wrong x-oss-hash-crc64ecma header
	Seed     uint64        // seed of Fraction's random numbers; 0 means 1
}

// An injected error response carries Status and Code; when only one is set,
// the other is filled in from OSS's usual pairs (500 InternalError,
// 503 ServiceUnavailable, SecurityTokenExpired 403, NoSuchUpload 404, …).
// The request body is read first, as if the server had received it all.

type faultState struct {
	f        Fault
	any      bool
	op       op
	mu       sync.Mutex
	matched  int
	injected int
	rng      *mrand.Rand
}

// AddFault installs f until remove is called (or ClearFaults).
func (s *Server) AddFault(f Fault) (remove func()) {
	if f.Status == 0 && f.Code != "" {
		f.Status = newError(f.Code).status
	}
	if f.Code == "" && f.Status != 0 {
		if f.Code = defaultCodes[f.Status]; f.Code == "" {
			f.Code = "InternalError"
		}
	}
	seed := f.Seed
	if seed == 0 {
		seed = 1
	}
	st := &faultState{f: f, any: f.Op == "*", rng: mrand.New(mrand.NewPCG(seed, seed^0x9E3779B97F4A7C15))}
	if !st.any {
		var ok bool
		if st.op, ok = opByName(f.Op); !ok {
			st.op = -1 // never matches
		}
	}
	s.faultMu.Lock()
	old := s.faults.Load()
	var list []*faultState
	if old != nil {
		list = slices.Clone(*old)
	}
	list = append(list, st)
	s.faults.Store(&list)
	s.faultMu.Unlock()
	return func() {
		s.faultMu.Lock()
		defer s.faultMu.Unlock()
		old := s.faults.Load()
		if old == nil {
			return
		}
		list := slices.DeleteFunc(slices.Clone(*old), func(x *faultState) bool { return x == st })
		s.faults.Store(&list)
	}
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	s.faults.Store(nil)
	s.faultMu.Unlock()
}

// pickFault counts the request against every matching fault and returns the
// first one that fires, or nil.
func (s *Server) pickFault(o op) *Fault {
	list := s.faults.Load()
	if list == nil {
		return nil
	}
	var fired *Fault
	for _, st := range *list {
		if !st.any && st.op != o {
			continue
		}
		st.mu.Lock()
		st.matched++
		if fired == nil && st.fires() {
			st.injected++
			fired = &st.f
		}
		st.mu.Unlock()
	}
	return fired
}

func (st *faultState) fires() bool {
	f := &st.f
	switch {
	case f.Times > 0 && st.injected >= f.Times:
		return false
	case f.Nth > 0:
		return st.matched == f.Nth
	case f.Every > 0:
		return st.matched%f.Every == 0
	case f.Fraction > 0:
		return st.rng.Float64() < f.Fraction
	}
	return true
}

// stallBodyLimit bounds the body a Stall reads before it waits (see stall).
const stallBodyLimit = 64 << 20

// applyFault carries out f and reports whether the request should then be
// served normally.
func (rq *request) applyFault(f *Fault) bool {
	rq.s.log.Debug("osstest: injecting fault", "op", rq.op.String(), "request_id", rq.id,
		"status", f.Status, "code", f.Code, "reset", f.Reset, "stall", f.Stall, "badcrc", f.BadCRC)
	if f.Stall > 0 && !rq.stall(f.Stall) {
		// The client left or the server is closing. Returning would make
		// net/http send an empty 200, so drop the connection instead.
		rq.code = "(stall abandoned)"
		panic(http.ErrAbortHandler)
	}
	if f.Reset {
		rq.reset()
		return false
	}
	if f.Status != 0 {
		rq.drainBody() // as if the server had received it all, then failed
		e := newError(f.Code)
		e.status = f.Status
		if id, ok := rq.query["uploadId"]; ok && f.Code == "NoSuchUpload" {
			e.with("UploadId", id[0])
		}
		rq.respondError(e)
		return false
	}
	rq.badCRC = f.BadCRC
	return true
}

// stall holds the request for d. net/http notices that a client hung up only
// once the request body has been read, so a body (up to stallBodyLimit) is
// read into memory first and replayed to the handler.
func (rq *request) stall(d time.Duration) bool {
	deadline := time.Now().Add(d)
	r := rq.r
	if r.ContentLength > 0 && r.ContentLength <= stallBodyLimit {
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return false
		}
		r.Body = io.NopCloser(bytes.NewReader(buf))
	}
	return rq.s.wait(r.Context(), time.Until(deadline))
}

// reset reads half the body, then drops the TCP connection with an RST.
func (rq *request) reset() {
	rq.code = "(connection reset)"
	if n := rq.r.ContentLength / 2; n > 0 {
		io.CopyN(io.Discard, rq.r.Body, n)
	}
	conn, _, err := http.NewResponseController(rq.w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // net/http closes the connection
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// ParseFault reads the --fault flag grammar:
//
//	OP[:ITEM]...
//
// OP is an operation name or "*". ITEM is one of
//
//	nth=N  every=N  frac=F  times=N  seed=N  stall=DURATION  reset  badcrc
//	status=NNN  code=CODE  NNN (an HTTP status)  CODE (an OSS error code)
//
// For example "UploadPart:nth=3:500:InternalError", "UploadPart:every=5:reset",
// "ListParts:frac=0.1:503:ServiceUnavailable", "CompleteMultipartUpload:nth=1:stall=2s",
// "UploadPart:times=2:403:SecurityTokenExpired", "UploadPart:nth=2:badcrc".
func ParseFault(spec string) (Fault, error) {
	fail := func(format string, args ...any) (Fault, error) {
		return Fault{}, fmt.Errorf("osstest: fault %q: "+format, append([]any{spec}, args...)...)
	}
	items := strings.Split(spec, ":")
	f := Fault{Op: items[0]}
	if f.Op == "" {
		return fail("missing operation (e.g. UploadPart or *)")
	}
	if _, ok := opByName(f.Op); !ok && f.Op != "*" {
		return fail("unknown operation %q", f.Op)
	}
	seen := map[string]bool{}
	once := func(name string) bool {
		if seen[name] {
			return false
		}
		seen[name] = true
		return true
	}
	posInt := func(v string, lo int) (int, bool) {
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= lo
	}
	for _, item := range items[1:] {
		name, val, hasVal := strings.Cut(item, "=")
		if !hasVal {
			switch {
			case item == "reset", item == "badcrc":
				name = item
			case len(item) == 3 && item[0] >= '1' && item[0] <= '9' && item[1] >= '0' && item[1] <= '9' && item[2] >= '0' && item[2] <= '9':
				name, val = "status", item
			case item != "" && isCodeWord(item):
				name, val = "code", item
			default:
				return fail("unknown item %q", item)
			}
		}
		if !once(name) {
			return fail("%s given twice", name)
		}
		var ok bool
		switch name {
		case "nth":
			f.Nth, ok = posInt(val, 1)
		case "every":
			f.Every, ok = posInt(val, 1)
		case "times":
			f.Times, ok = posInt(val, 1)
		case "frac", "fraction":
			var err error
			f.Fraction, err = strconv.ParseFloat(val, 64)
			ok = err == nil && f.Fraction > 0 && f.Fraction <= 1
		case "seed":
			var err error
			f.Seed, err = strconv.ParseUint(val, 10, 64)
			ok = err == nil
		case "stall":
			var err error
			f.Stall, err = time.ParseDuration(val)
			ok = err == nil && f.Stall > 0
		case "status":
			f.Status, ok = posInt(val, 400) // an injected answer is an error
			if !ok || f.Status > 599 {
				return fail("status %q: want an error status, 400..599", val)
			}
		case "code":
			f.Code, ok = val, isCodeWord(val)
		case "reset":
			f.Reset, ok = true, !hasVal
		case "badcrc":
			f.BadCRC, ok = true, !hasVal
		default:
			return fail("unknown item %q", item)
		}
		if !ok {
			return fail("bad value in %q", item)
		}
	}
	n := 0
	for _, k := range []string{"nth", "every", "frac", "fraction"} {
		if seen[k] {
			n++
		}
	}
	switch {
	case n > 1:
		return fail("use only one of nth, every and frac")
	case f.Reset && (f.Status != 0 || f.Code != "" || f.BadCRC):
		return fail("reset answers nothing, so it takes no status, code or badcrc")
	case f.BadCRC && (f.Status != 0 || f.Code != ""):
		return fail("badcrc answers normally, so it takes no status or code")
	case !f.Reset && !f.BadCRC && f.Stall == 0 && f.Status == 0 && f.Code == "":
		return fail("nothing to inject: give a status, a code, reset, stall=… or badcrc")
	}
	return f, nil
}

// isCodeWord reports whether s looks like an OSS error code (InternalError).
func isCodeWord(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
