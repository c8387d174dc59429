package refresh

import (
	"regexp"
	"strings"
)

var (
	// A JSON member whose name says secret, token or password.
	jsonSecret = regexp.MustCompile(`(?i)("[^"]*(?:secret|token|password)[^"]*"\s*:\s*)"(?:[^"\\]|\\.)*"`)
	// An INI, env or flag style assignment whose name says the same. Only
	// "=": "Field: reason" is how our own messages name a field.
	kvSecret = regexp.MustCompile(`(?i)\b([a-z0-9_.-]*(?:secret|token|password)[a-z0-9_.-]*\s*=\s*)[^\s,;"'}]+`)
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
	s = jsonSecret.ReplaceAllString(s, `$1"[redacted]"`)
	return kvSecret.ReplaceAllString(s, `$1[redacted]`)
}
