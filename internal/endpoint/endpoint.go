// Package endpoint is the one home of the rules about endpoint host names
// that the ICE client, the OSS adapter and the CLI share: which hosts are
// loopback (where plain http and the emulator are allowed), and which OSS
// region an endpoint names.
package endpoint

import (
	"net"
	"regexp"
	"strings"
)

// IsLoopback reports whether host names this machine: "localhost" (any
// case, with or without the trailing dot of a fully qualified name) or a
// loopback IP (127.0.0.0/8, ::1, IPv4-mapped 127.x), an IPv6 literal with
// or without its brackets. host has no port; use net.SplitHostPort or
// url.URL.Hostname first. Names are never resolved: a name that resolves to
// 127.0.0.1 is not loopback here, because what it resolves to can change.
func IsLoopback(host string) bool {
	h := strings.TrimSuffix(host, ".")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if i := strings.IndexByte(h, '%'); i >= 0 { // a zone: fe80::1%eth0
		h = h[:i]
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

var regionID = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)

// OSSRegion returns the region id ("cn-shanghai") that an OSS endpoint host
// names, or "" when it names none. host may carry a port and, as in a
// virtual-hosted request, a bucket label in front; case does not matter
// (DNS names are case-insensitive, so OSS-cn-shanghai.aliyuncs.com is
// cn-shanghai). Recognised:
//
//	oss-REGION.aliyuncs.com, oss-REGION-internal.aliyuncs.com
//	REGION.oss.aliyuncs.com (the dual-stack form)
//
// Acceleration endpoints (oss-accelerate.aliyuncs.com,
// oss-accelerate-overseas.aliyuncs.com) serve every region and so name
// none: "" rather than "accelerate", since a V4 signature needs the
// bucket's own region id
// (https://help.aliyun.com/en/oss/developer-reference/guidelines-for-upgrading-v1-signatures-to-v4-signatures),
// and "accelerate" would be refused. Any other host (an IP, a custom
// domain, the emulator) names none either.
func OSSRegion(host string) string {
	h := strings.ToLower(host)
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(h, ".")
	rest, ok := strings.CutSuffix(h, ".aliyuncs.com")
	if !ok {
		return ""
	}
	labels := strings.Split(rest, ".")
	var r string
	switch last := labels[len(labels)-1]; {
	case last == "oss" && len(labels) >= 2: // [bucket.]REGION.oss.aliyuncs.com
		r = labels[len(labels)-2]
	case strings.HasPrefix(last, "oss-"): // [bucket.]oss-REGION[-internal].aliyuncs.com
		r = strings.TrimSuffix(strings.TrimPrefix(last, "oss-"), "-internal")
	default:
		return ""
	}
	if r == "accelerate" || r == "accelerate-overseas" || !regionID.MatchString(r) {
		return ""
	}
	return r
}
