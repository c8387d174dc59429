package endpoint

import "testing"

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "LocalHost": true, "localhost.": true,
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "[::1]": true, "::ffff:127.0.0.1": true, "::1%lo": true,
		"": false, "0.0.0.0": false, "::": false, "10.0.0.1": false, "192.168.1.1": false,
		"localhost.example.com": false, "mylocalhost": false, "127.0.0.1.nip.io": false,
		"oss-cn-shanghai.aliyuncs.com": false, "127.0.0.1:80": false, // a port is not a host
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestOSSRegion(t *testing.T) {
	for host, want := range map[string]string{
		"oss-cn-shanghai.aliyuncs.com":                    "cn-shanghai",
		"oss-cn-shanghai-internal.aliyuncs.com":           "cn-shanghai",
		"OSS-cn-shanghai.aliyuncs.com":                    "cn-shanghai", // DNS is case-insensitive
		"oss-CN-HANGZHOU.ALIYUNCS.COM":                    "cn-hangzhou",
		"bkt.oss-cn-beijing.aliyuncs.com":                 "cn-beijing", // virtual-hosted
		"oss-ap-southeast-1.aliyuncs.com:443":             "ap-southeast-1",
		"oss-cn-shanghai.aliyuncs.com.":                   "cn-shanghai",
		"oss-cn-hangzhou-finance-1-internal.aliyuncs.com": "cn-hangzhou-finance-1",
		"cn-hangzhou.oss.aliyuncs.com":                    "cn-hangzhou", // dual-stack
		"bkt.cn-hangzhou.oss.aliyuncs.com":                "cn-hangzhou",
		"oss-accelerate.aliyuncs.com":                     "", // serves every region: names none
		"oss-accelerate-overseas.aliyuncs.com":            "",
		"bkt.oss-accelerate.aliyuncs.com":                 "",
		"oss-cn-shanghai.example.com":                     "", // not OSS
		"oss.aliyuncs.com":                                "",
		"oss-.aliyuncs.com":                               "",
		"oss-cn-shanghai.aliyuncs.com.evil.example":       "",
		"ice.cn-shanghai.aliyuncs.com":                    "",
		"127.0.0.1:9000":                                  "",
		"":                                                "",
		"oss-cn_shanghai.aliyuncs.com":                    "",
	} {
		if got := OSSRegion(host); got != want {
			t.Errorf("OSSRegion(%q) = %q, want %q", host, got, want)
		}
	}
}
