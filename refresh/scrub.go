package refresh

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

var (
	// A JSON member whose name says secret, token or password.
	jsonSecret = regexp.MustCompile(`(?i)("[^"]*(?:secret|token|password)[^"]*"\s*:\s*)"(?:[^"\\]|\\.)*"`)
	// An INI, env or flag style assignment whose name says the same, or
	// signature (an echoed Authorization header or signed URL). Only "=":
	// "Field: reason" is how our own messages name a field.
	kvSecret = regexp.MustCompile(`(?i)\b([a-z0-9_.-]*(?:secret|token|password|signature)[a-z0-9_.-]*\s*=\s*)[^\s,;"'}&\\]+`)
)

// Scrub removes secrets from text that came from elsewhere, such as a
// credential provider's error. credentials-go quotes a malformed aliyun CLI
// config file whole when it cannot parse it, AccessKeySecret and all, so
// the quoted content is dropped, and any value named like a secret, token or
// password is replaced by [redacted].
func Scrub(s string) string {
	const marker = "' failed: "
	if i := strings.Index(s, "unmarshal aliyun cli config from '"); i >= 0 {
		if j := strings.Index(s[i:], marker); j >= 0 {
			start := i + j + len(marker)
			end := len(s)
			if k := strings.Index(s[start:], " , "); k >= 0 {
				end = start + k
			}
			s = s[:start] + "the file is not valid JSON (fix it, e.g. with 'aliyun configure')" + s[end:]
		}
	}
	// Both patterns need one of the names: most text has none, and the
	// regexps cost ~0.3 µs a byte where this check costs a few ns.
	lower := strings.ToLower(s)
	if !strings.Contains(lower, "secret") && !strings.Contains(lower, "token") &&
		!strings.Contains(lower, "password") && !strings.Contains(lower, "signature") {
		return s
	}
	s = jsonSecret.ReplaceAllString(s, `$1"[redacted]"`)
	return kvSecret.ReplaceAllStringFunc(s, func(m string) string {
		prefix := kvSecret.FindStringSubmatch(m)[1]
		// A value's trailing colon is the sentence's ("…?Signature=x: it
		// answered…"), and RedactURL's REDACTED is already safe.
		val, colon := strings.CutSuffix(m[len(prefix):], ":")
		if val == "REDACTED" {
			return m
		}
		if colon {
			return prefix + "[redacted]:"
		}
		return prefix + "[redacted]"
	})
}

// MinSecretLen is the shortest value Secrets scrubs: a shorter one would
// redact ordinary words, and no credential is that short.
const MinSecretLen = 8

// maxSecrets bounds a Secrets set: a batch refreshes credentials for every
// media, so the set would otherwise grow for the life of the process. The
// oldest values go first; a value added again counts as new.
const maxSecrets = 4096

// Secrets is the set of secret values this process holds or has received
// (caller AccessKeySecret and SecurityToken, the STS credentials ICE
// issued, raw UploadAuth blobs), so that text from elsewhere can be scrubbed
// by value: a service message that echoes a request header carries a token
// under no name that Scrub's patterns would know. Values shorter than
// MinSecretLen are ignored.
//
// The zero value is ready to use, a nil *Secrets scrubs by pattern only,
// and all methods are safe for concurrent use.
type Secrets struct {
	mu     sync.RWMutex
	seq    uint64
	added  map[string]uint64   // raw value → when it was last added
	byHead map[string][]string // first MinSecretLen bytes → forms starting so, longest first
	forms  map[string][]string // raw value → its forms in byHead
}

// Add records values as secrets, with their URL-encoded forms (as a query
// value and as a path segment), which is how a service that quotes its
// request URL shows them.
func (s *Secrets) Add(values ...string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.added == nil {
		s.added, s.byHead, s.forms = map[string]uint64{}, map[string][]string{}, map[string][]string{}
	}
	for _, v := range values {
		if len(v) < MinSecretLen {
			continue
		}
		s.seq++
		if _, ok := s.added[v]; ok {
			s.added[v] = s.seq
			continue
		}
		s.added[v] = s.seq
		var fs []string
		for _, f := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
			if !slices.Contains(fs, f) {
				fs = append(fs, f)
				s.index(f, true)
			}
		}
		s.forms[v] = fs
	}
	for len(s.added) > maxSecrets {
		s.evictOldest()
	}
}

// index adds (or removes) form in byHead, keeping each list longest first
// so that Scrub redacts the longest match at a position.
func (s *Secrets) index(form string, add bool) {
	head := form[:MinSecretLen]
	l := slices.DeleteFunc(s.byHead[head], func(x string) bool { return x == form })
	if add {
		i, _ := slices.BinarySearchFunc(l, len(form), func(x string, n int) int { return n - len(x) })
		l = slices.Insert(l, i, form)
	}
	if len(l) == 0 {
		delete(s.byHead, head)
		return
	}
	s.byHead[head] = l
}

func (s *Secrets) evictOldest() {
	var oldest string
	var seq uint64
	for v, n := range s.added {
		if oldest == "" || n < seq {
			oldest, seq = v, n
		}
	}
	for _, f := range s.forms[oldest] {
		s.index(f, false)
	}
	delete(s.added, oldest)
	delete(s.forms, oldest)
}

// Len is the number of secret values held.
func (s *Secrets) Len() int {
	if s == nil {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.added)
}

// Scrub replaces every occurrence of a held value (or its URL-encoded
// form) in text with [redacted], then applies Scrub's patterns. It costs
// one map lookup per byte of text, whatever the number of values.
func (s *Secrets) Scrub(text string) string {
	if s != nil {
		text = s.byValue(text)
	}
	return Scrub(text)
}

func (s *Secrets) byValue(text string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.byHead) == 0 {
		return text
	}
	var b strings.Builder
	done := 0 // text[:done] is in b, or nothing has been redacted yet
	for i := 0; i+MinSecretLen <= len(text); {
		match := ""
		for _, f := range s.byHead[text[i:i+MinSecretLen]] {
			if strings.HasPrefix(text[i:], f) {
				match = f
				break
			}
		}
		if match == "" {
			i++
			continue
		}
		b.WriteString(text[done:i])
		b.WriteString(redacted)
		i += len(match)
		done = i
	}
	if done == 0 {
		return text
	}
	b.WriteString(text[done:])
	return b.String()
}
