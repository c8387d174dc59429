package refresh

import "testing"

// The region the decoder reads from an UploadAddress endpoint follows the
// one rule the OSS adapter uses (internal/endpoint): it used to say
// "accelerate" for the accelerate endpoint, where the adapter said "", and
// "" for an upper-case host, where the adapter read the region.
func TestRegionFromEndpointIsTheAdapters(t *testing.T) {
	for ep, want := range map[string]string{
		"https://oss-cn-shanghai.aliyuncs.com":          "cn-shanghai",
		"https://oss-cn-shanghai-internal.aliyuncs.com": "cn-shanghai",
		"https://OSS-cn-shanghai.aliyuncs.com":          "cn-shanghai",
		"https://oss-accelerate.aliyuncs.com":           "",
		"http://127.0.0.1:4567":                         "",
	} {
		if got := regionFromEndpoint(ep); got != want {
			t.Errorf("regionFromEndpoint(%q) = %q, want %q", ep, got, want)
		}
	}
}
