package icetest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Corruptions of a successful RefreshUploadMedia response (Fault.Corrupt).
const (
	CorruptBase64       = "base64"        // UploadAuth is not valid Base64
	CorruptJSON         = "json"          // UploadAuth is Base64 of truncated JSON
	CorruptMissingField = "missing-field" // UploadAuth lacks SecurityToken
	CorruptExpired      = "expired"       // UploadAuth's ExpireUTCTime is already past
)

// Fault injects a failure into the calls of one action. Calls are counted
// per fault from the moment it is added, after authentication succeeded
// (a fault never hides a signature error), starting at 1.
//
// Which calls it hits:
//   - Nth only: call Nth.
//   - Times only: calls 1..Times.
//   - Nth and Times: calls Nth..Nth+Times-1.
//   - Every: calls that are multiples of Every (from Nth on, if set), at
//     most Times of them when Times > 0.
//   - none of the three: every call.
//
// A hit answers Status/Code (a gateway JSON error) when Status is set;
// otherwise the action runs and, for RefreshUploadMedia, Corrupt and Swap
// mangle its UploadAddress/UploadAuth.
type Fault struct {
	Action  string // action name; "" or "*" matches every action
	Nth     int
	Every   int
	Times   int
	Status  int    // HTTP status of the injected error; 0 = no error
	Code    string // error Code; "" picks one from Status
	Message string // error Message; "" = "injected fault"
	Corrupt string // CorruptBase64, CorruptJSON, CorruptMissingField, CorruptExpired or ""
	Swap    bool   // swap UploadAddress and UploadAuth, as the published API page does
}

type faultState struct {
	Fault
	seen, hits int
}

// hit counts one call and reports whether the fault fires on it.
func (f *faultState) hit() bool {
	f.seen++
	n := f.seen
	start := max(f.Nth, 1)
	if n < start {
		return false
	}
	var fire bool
	switch {
	case f.Every > 0:
		fire = n%f.Every == 0 && (f.Times == 0 || f.hits < f.Times)
	case f.Times > 0:
		fire = n < start+f.Times
	case f.Nth > 0:
		fire = n == f.Nth
	default:
		fire = true
	}
	if fire {
		f.hits++
	}
	return fire
}

// AddFault installs f and returns a function that removes it. When several
// faults hit the same call, the earliest added wins (all of them count it).
func (s *Server) AddFault(f Fault) (remove func()) {
	if f.Status != 0 && f.Code == "" {
		f.Code = defaultCode(f.Status)
	}
	st := &faultState{Fault: f}
	s.mu.Lock()
	s.faults = append(s.faults, st)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, x := range s.faults {
			if x == st {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
				return
			}
		}
	}
}

func (s *Server) matchFault(action string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	var won *Fault
	for _, f := range s.faults {
		if f.Action != "" && f.Action != "*" && f.Action != action {
			continue
		}
		if f.hit() && won == nil {
			cp := f.Fault
			won = &cp
		}
	}
	return won
}

func defaultCode(status int) string {
	switch {
	case status == http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	case status == http.StatusNotFound:
		return "ResourceNotFound"
	case status == http.StatusForbidden:
		return "Forbidden"
	case status == http.StatusTooManyRequests:
		return "Throttling"
	case status >= 500:
		return "InternalError"
	default:
		return "InvalidParameter"
	}
}

// ParseFault parses the CLI grammar
//
//	ACTION[:nth=N][:every=N][:times=N][:STATUS[:CODE]][:corrupt=KIND][:swap][:message=TEXT]
//
// for example "RefreshUploadMedia:nth=2:503:ServiceUnavailable",
// "RefreshUploadMedia:times=3:400:Throttling.User" or
// "RefreshUploadMedia:nth=1:corrupt=base64". ACTION "*" matches every action.
// message= must come last, since its text may contain colons.
func ParseFault(spec string) (Fault, error) {
	parts := strings.Split(spec, ":")
	if parts[0] == "" {
		return Fault{}, fmt.Errorf("icetest: fault %q: missing action", spec)
	}
	f := Fault{Action: parts[0]}
	if f.Action != "*" && !slices.Contains(Actions, f.Action) {
		return Fault{}, fmt.Errorf("icetest: fault %q: unknown action %q; want * or one of %s", spec, f.Action, strings.Join(Actions, ", "))
	}
	for i := 1; i < len(parts); i++ {
		p := parts[i]
		key, val, hasVal := strings.Cut(p, "=")
		bad := func(why string) (Fault, error) {
			return Fault{}, fmt.Errorf("icetest: fault %q: %q: %s", spec, p, why)
		}
		num := func() (int, error) {
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("icetest: fault %q: %s needs a positive integer", spec, key)
			}
			return n, nil
		}
		var err error
		switch {
		case hasVal && key == "nth":
			f.Nth, err = num()
		case hasVal && key == "every":
			f.Every, err = num()
		case hasVal && key == "times":
			f.Times, err = num()
		case hasVal && key == "corrupt":
			switch val {
			case CorruptBase64, CorruptJSON, CorruptMissingField, CorruptExpired:
				f.Corrupt = val
			default:
				return bad("corrupt must be base64, json, missing-field or expired")
			}
		case hasVal && key == "message":
			f.Message = strings.Join(append([]string{val}, parts[i+1:]...), ":")
			i = len(parts)
		case !hasVal && p == "swap":
			f.Swap = true
		case !hasVal && f.Status == 0 && isStatus(p):
			f.Status, _ = strconv.Atoi(p)
			if i+1 < len(parts) && !strings.Contains(parts[i+1], "=") && parts[i+1] != "swap" && !isStatus(parts[i+1]) {
				f.Code = parts[i+1]
				i++
			}
		default:
			return bad("unknown element")
		}
		if err != nil {
			return Fault{}, err
		}
	}
	if f.Status == 0 && f.Corrupt == "" && !f.Swap {
		return Fault{}, fmt.Errorf("icetest: fault %q: needs a STATUS, corrupt= or swap", spec)
	}
	if f.Status != 0 && f.Code == "" {
		f.Code = defaultCode(f.Status)
	}
	return f, nil
}

// Actions are the ICE actions the fake serves.
var Actions = []string{"RefreshUploadMedia", "GetMediaInfo", "SearchMedia"}

func isStatus(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 400 && n <= 599 && len(s) == 3
}
