package icetest_test

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reupload/reupload/refresh/icetest"
)

// TestRPCSignatureVector checks the string to sign and the signature
// against the worked example of Alibaba Cloud's "Signature mechanism" page
// (DescribeRegions, AccessKey testid/testsecret).
func TestRPCSignatureVector(t *testing.T) {
	params := url.Values{
		"TimeStamp":        {"2016-02-23T12:46:24Z"},
		"Format":           {"XML"},
		"AccessKeyId":      {"testid"},
		"Action":           {"DescribeRegions"},
		"SignatureMethod":  {"HMAC-SHA1"},
		"SignatureNonce":   {"3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
		"Version":          {"2014-05-26"},
		"SignatureVersion": {"1.0"},
	}
	sts := icetest.RPCStringToSign("GET", params)
	want := "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1" +
		"%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0" +
		"%26TimeStamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
	if sts != want {
		t.Fatalf("string to sign\n%s\nwant\n%s", sts, want)
	}
	if got := icetest.SignRPC("testsecret", sts); got != "CT9X0VtwR86fNWSnsc6v8YGOjuE=" {
		t.Errorf("signature %s, want CT9X0VtwR86fNWSnsc6v8YGOjuE=", got)
	}
}

var nonceSeq atomic.Int64

// rpcParams are the common parameters of a signed RPC call at time at.
func rpcParams(action, ak string, at time.Time, extra map[string]string) url.Values {
	p := url.Values{
		"Action":           {action},
		"Version":          {icetest.APIVersion},
		"Format":           {"JSON"},
		"AccessKeyId":      {ak},
		"SignatureMethod":  {"HMAC-SHA1"},
		"SignatureVersion": {"1.0"},
		"SignatureNonce":   {fmt.Sprintf("nonce-%d-%d", time.Now().UnixNano(), nonceSeq.Add(1))},
		"Timestamp":        {at.UTC().Format("2006-01-02T15:04:05Z")},
	}
	for k, v := range extra {
		p.Set(k, v)
	}
	return p
}

// rpcSend signs params with secret and sends them as GET (query) or POST
// (form body), the two ways the classic SDK and the aliyun CLI call.
func rpcSend(t *testing.T, base, method, secret string, params url.Values, header http.Header) (*http.Response, []byte) {
	t.Helper()
	params.Set("Signature", icetest.SignRPC(secret, icetest.RPCStringToSign(method, params)))
	var req *http.Request
	var err error
	if method == http.MethodGet {
		req, err = http.NewRequest(method, base+"/?"+params.Encode(), nil)
	} else {
		req, err = http.NewRequest(method, base+"/", strings.NewReader(params.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func jsonBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return m
}

func TestRPCSignature(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, _ := newServer(t, icetest.Options{Now: clock})
	s.AddSTS("STS.rpc", "rpc-sts-secret", "rpc+token/=*~", now.Add(time.Hour))
	media := map[string]string{"MediaId": mediaID}

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		resp, body := rpcSend(t, s.URL(), method, testSecret, rpcParams("RefreshUploadMedia", testAK, now, media), nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s %s", method, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if m := jsonBody(t, body); m["MediaId"] != mediaID || m["UploadAuth"] == nil || m["RequestId"] == "" {
			t.Errorf("%s: body %v", method, m)
		}
	}
	// An STS caller signs its SecurityToken too; the characters POP
	// encodes specially (+ / = * ~) must survive.
	resp, body := rpcSend(t, s.URL(), http.MethodPost, "rpc-sts-secret", rpcParams("GetMediaInfo", "STS.rpc", now, map[string]string{"MediaId": mediaID, "SecurityToken": "rpc+token/=*~"}), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("STS caller: %d %s", resp.StatusCode, body)
	}

	replay := rpcParams("GetMediaInfo", testAK, now, media)
	if resp, body := rpcSend(t, s.URL(), http.MethodGet, testSecret, replay, nil); resp.StatusCode != 200 {
		t.Fatalf("first use of nonce: %d %s", resp.StatusCode, body)
	}
	wrong := rpcParams("RefreshUploadMedia", testAK, now, media)
	tests := []struct {
		name   string
		secret string
		params url.Values
		status int
		code   string
	}{
		{"wrong secret", "not-the-secret", wrong, 400, "SignatureDoesNotMatch"},
		{"replayed nonce", testSecret, replay, 400, "SignatureNonceUsed"},
		{"expired timestamp", testSecret, rpcParams("RefreshUploadMedia", testAK, now.Add(-icetest.Window-time.Second), media), 400, "InvalidTimeStamp.Expired"},
		{"future timestamp", testSecret, rpcParams("RefreshUploadMedia", testAK, now.Add(icetest.Window+time.Second), media), 400, "InvalidTimeStamp.Expired"},
		{"unknown AK", testSecret, rpcParams("RefreshUploadMedia", "LTAInobody", now, media), 404, "InvalidAccessKeyId.NotFound"},
		{"no timestamp", testSecret, func() url.Values { p := rpcParams("GetMediaInfo", testAK, now, media); p.Del("Timestamp"); return p }(), 400, "IllegalTimestamp"},
		{"bad timestamp", testSecret, rpcParams("GetMediaInfo", testAK, now, map[string]string{"MediaId": mediaID, "Timestamp": "yesterday"}), 400, "InvalidTimeStamp.Format"},
		{"SHA-256 method", testSecret, rpcParams("GetMediaInfo", testAK, now, map[string]string{"MediaId": mediaID, "SignatureMethod": "HMAC-SHA256"}), 400, "IncompleteSignature"},
		{"wrong version", testSecret, rpcParams("GetMediaInfo", testAK, now, map[string]string{"MediaId": mediaID, "Version": "2017-03-21"}), 400, "InvalidVersion"},
		{"STS without token", "rpc-sts-secret", rpcParams("GetMediaInfo", "STS.rpc", now, media), 400, "MissingSecurityToken"},
		{"unknown action", testSecret, rpcParams("DeleteMediaInfos", testAK, now, media), 404, "InvalidAction.NotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rpcSend(t, s.URL(), http.MethodPost, tc.secret, tc.params, nil)
			m := jsonBody(t, body)
			if resp.StatusCode != tc.status || m["Code"] != tc.code {
				t.Fatalf("%d %v, want %d %s", resp.StatusCode, m, tc.status, tc.code)
			}
			for _, k := range []string{"RequestId", "HostId", "Message", "Recommend"} {
				if v, _ := m[k].(string); v == "" {
					t.Errorf("error body lacks %s: %v", k, m)
				}
			}
		})
	}

	// A wrong signature echoes the server's string to sign, which the
	// classic SDK compares with its own to say the secret is wrong.
	p := rpcParams("GetMediaInfo", testAK, now, media)
	_, body = rpcSend(t, s.URL(), http.MethodPost, "not-the-secret", p, nil)
	msg, _ := jsonBody(t, body)["Message"].(string)
	if want := "server string to sign is:" + icetest.RPCStringToSign(http.MethodPost, p); !strings.HasSuffix(msg, want) {
		t.Errorf("message %q, want it to end in %q", msg, want)
	}
	// … but never an STS caller's SecurityToken.
	p = rpcParams("GetMediaInfo", "STS.rpc", now, map[string]string{"MediaId": mediaID, "SecurityToken": "rpc+token/=*~"})
	_, body = rpcSend(t, s.URL(), http.MethodPost, "not-the-secret", p, nil)
	if msg, _ := jsonBody(t, body)["Message"].(string); strings.Contains(msg, "token") || !strings.Contains(msg, "SecurityToken%3D%5Bredacted%5D") && !strings.Contains(msg, "[redacted]") {
		t.Errorf("message leaks or lacks the redacted token: %q", msg)
	}
}

// xmlError is the gateway's XML error body.
type xmlError struct {
	XMLName                                     xml.Name `xml:"Error"`
	RequestId, HostId, Code, Message, Recommend string
}

func TestRPCFormatXML(t *testing.T) {
	now := time.Now()
	s, _ := newServer(t, icetest.Options{})
	resp, body := rpcSend(t, s.URL(), http.MethodGet, testSecret, rpcParams("GetMediaInfo", testAK, now, map[string]string{"MediaId": mediaID, "Format": "XML"}), nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/xml;charset=utf-8" {
		t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var ok struct {
		XMLName   xml.Name `xml:"GetMediaInfoResponse"`
		RequestId string
		MediaInfo struct {
			MediaId        string
			MediaBasicInfo struct{ Title, Status string }
			FileInfoList   []struct {
				FileBasicInfo struct{ FileName, FileType string }
			}
		}
	}
	if err := xml.Unmarshal(body, &ok); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if !strings.HasPrefix(string(body), "<?xml") || ok.RequestId == "" || ok.MediaInfo.MediaId != mediaID || ok.MediaInfo.MediaBasicInfo.Title != "Demo" ||
		len(ok.MediaInfo.FileInfoList) != 1 || ok.MediaInfo.FileInfoList[0].FileBasicInfo.FileName != "source.mp4" {
		t.Errorf("XML answer %+v from %s", ok, body)
	}

	// Errors come back in XML too, with the same fields as in JSON.
	resp, body = rpcSend(t, s.URL(), http.MethodPost, "not-the-secret", rpcParams("GetMediaInfo", testAK, now, map[string]string{"MediaId": mediaID, "Format": "XML"}), nil)
	var e xmlError
	if err := xml.Unmarshal(body, &e); err != nil || resp.StatusCode != 400 || e.Code != "SignatureDoesNotMatch" || e.RequestId == "" || e.HostId == "" || e.Recommend == "" {
		t.Errorf("XML error %d %+v (%v) from %s", resp.StatusCode, e, err, body)
	}

	// Without Format, an Accept header naming XML asks for XML.
	p := rpcParams("GetMediaInfo", testAK, now, map[string]string{"MediaId": icetest.MediaID("nope")})
	p.Del("Format")
	resp, body = rpcSend(t, s.URL(), http.MethodGet, testSecret, p, http.Header{"Accept": {"application/xml"}})
	if err := xml.Unmarshal(body, &e); err != nil || resp.StatusCode != 404 || e.Code != "ResourceNotFound" {
		t.Errorf("Accept XML: %d %+v (%v) from %s", resp.StatusCode, e, err, body)
	}
}
