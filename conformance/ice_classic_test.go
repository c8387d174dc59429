package conformance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"

	"github.com/reupload/reupload/internal/emulator"
)

// The classic RPC SDK (github.com/aliyun/alibaba-cloud-sdk-go, CommonRequest)
// signs with the older RPC signature: HMAC-SHA1 over every parameter, with
// SignatureNonce and Timestamp in the query. These tests drive the fake ICE
// with it, in JSON and XML, and check the gateway's codes for a wrong
// secret, a replayed nonce and an expired timestamp.

// iceClock is the emulator's clock; tests move it to expire timestamps.
type iceClock struct {
	mu   sync.Mutex
	skew time.Duration
}

func (c *iceClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.skew) }
func (c *iceClock) Skew(d time.Duration) {
	c.mu.Lock()
	c.skew = d
	c.mu.Unlock()
}

// replayer is an http.RoundTripper that records the request it sends and,
// when armed, sends that recorded request again instead of the SDK's new
// one: the same nonce, timestamp and signature, as a replay attack would.
type replayer struct {
	mu     sync.Mutex
	armed  bool
	method string
	url    string
	header http.Header
	body   []byte
}

func (r *replayer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	r.mu.Lock()
	if !r.armed {
		r.method, r.url, r.header, r.body = req.Method, req.URL.String(), req.Header.Clone(), body
	} else {
		out, err := http.NewRequestWithContext(req.Context(), r.method, r.url, bytes.NewReader(r.body))
		if err != nil {
			r.mu.Unlock()
			return nil, err
		}
		out.Header = r.header.Clone()
		req, body = out, r.body
	}
	r.mu.Unlock()
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	return http.DefaultTransport.RoundTrip(req)
}

func startICE(t *testing.T, clk *iceClock) *emulator.Emulator {
	t.Helper()
	em, err := emulator.Start(emulator.Config{Media: 2, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(em.Close)
	return em
}

func classicClient(t *testing.T, id, secret string) *sdk.Client {
	t.Helper()
	// Deprecated in favour of NewClientWithOptions, but it is the
	// constructor existing classic-SDK code calls, and both sign alike.
	//lint:ignore SA1019 the path existing callers use is the one to prove
	c, err := sdk.NewClientWithAccessKey("cn-shanghai", id, secret)
	if err != nil {
		t.Fatal(err)
	}
	c.GetConfig().AutoRetry = false
	return c
}

func iceRequest(em *emulator.Emulator, action, format string, query map[string]string) *requests.CommonRequest {
	req := requests.NewCommonRequest()
	req.Method = "POST"
	req.Scheme = "http"
	req.Domain = strings.TrimPrefix(em.Info().ICEEndpoint, "http://")
	req.Version = "2020-11-09"
	req.ApiName = action
	req.AcceptFormat = format
	for k, v := range query {
		req.QueryParams[k] = v
	}
	return req
}

func jsonOf(t *testing.T, resp *responses.CommonResponse) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &m); err != nil {
		t.Fatalf("%s: %v", resp.GetHttpContentString(), err)
	}
	return m
}

// serverError asserts err is the SDK's ServerError with status and (JSON)
// code, and returns it.
func serverError(t *testing.T, err error, status int, code string) *sdkerrors.ServerError {
	t.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("error %T %v, want *errors.ServerError", err, err)
	}
	if se.HttpStatus() != status || se.ErrorCode() != code {
		t.Fatalf("status %d code %q, want %d %q (%v)", se.HttpStatus(), se.ErrorCode(), status, code, err)
	}
	if se.RequestId() == "" || se.HostId() == "" || se.Recommend() == "" {
		t.Errorf("error lacks RequestId, HostId or Recommend: %v", err)
	}
	return se
}

func TestClassicSDKRefreshAndGetMediaInfo(t *testing.T) {
	em := startICE(t, &iceClock{})
	info := em.Info()
	m := info.Media[1]
	c := classicClient(t, info.AccessKeyID, info.AccessKeySecret)

	resp, err := c.ProcessCommonRequest(iceRequest(em, "RefreshUploadMedia", "JSON", map[string]string{"MediaId": m.MediaID}))
	if err != nil {
		t.Fatal(err)
	}
	body := jsonOf(t, resp)
	raw, _ := base64.StdEncoding.DecodeString(body["UploadAddress"].(string))
	var addr struct{ Endpoint, Bucket, FileName string }
	if err := json.Unmarshal(raw, &addr); err != nil || body["MediaId"] != m.MediaID || addr.Bucket != m.Bucket || addr.FileName != m.Object || addr.Endpoint != info.OSSEndpoint {
		t.Errorf("RefreshUploadMedia: %v, address %+v (%v)", body, addr, err)
	}

	resp, err = c.ProcessCommonRequest(iceRequest(em, "GetMediaInfo", "JSON", map[string]string{"MediaId": m.MediaID}))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		MediaInfo struct {
			MediaBasicInfo struct{ Title, Status string }
			FileInfoList   []struct {
				FileBasicInfo struct{ FileSize, FileUrl string }
			}
		}
	}
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &got); err != nil || len(got.MediaInfo.FileInfoList) != 1 {
		t.Fatalf("GetMediaInfo %s (%v)", resp.GetHttpContentString(), err)
	}
	old := emulator.OldSource(m.MediaID)
	f := got.MediaInfo.FileInfoList[0].FileBasicInfo
	if got.MediaInfo.MediaBasicInfo.Title != m.Title || got.MediaInfo.MediaBasicInfo.Status != "Normal" || f.FileSize != strconv.Itoa(len(old)) {
		t.Errorf("GetMediaInfo %s", resp.GetHttpContentString())
	}
	// The signed FileUrl fetches the source from the fake OSS.
	r, err := http.Get(f.FileUrl)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !bytes.Equal(src, old) {
		t.Errorf("FileUrl: %d, %d bytes", r.StatusCode, len(src))
	}
}

func TestClassicSDKXML(t *testing.T) {
	em := startICE(t, &iceClock{})
	info := em.Info()
	m := info.Media[0]
	c := classicClient(t, info.AccessKeyID, info.AccessKeySecret)
	resp, err := c.ProcessCommonRequest(iceRequest(em, "GetMediaInfo", "XML", map[string]string{"MediaId": m.MediaID}))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		XMLName   xml.Name `xml:"GetMediaInfoResponse"`
		RequestId string
		MediaInfo struct {
			MediaId        string
			MediaBasicInfo struct{ Title string }
			FileInfoList   []struct {
				FileBasicInfo struct{ FileName, FileSize string }
			}
		}
	}
	if err := xml.Unmarshal(resp.GetHttpContentBytes(), &got); err != nil {
		t.Fatalf("%s: %v", resp.GetHttpContentString(), err)
	}
	if got.RequestId == "" || got.MediaInfo.MediaId != m.MediaID || got.MediaInfo.MediaBasicInfo.Title != m.Title ||
		len(got.MediaInfo.FileInfoList) != 1 || got.MediaInfo.FileInfoList[0].FileBasicInfo.FileName != "source.mp4" {
		t.Errorf("XML %s", resp.GetHttpContentString())
	}
	if ct := resp.GetHttpHeaders()["Content-Type"]; len(ct) != 1 || ct[0] != "text/xml;charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}

	// An error in XML: the classic SDK parses only JSON errors, so its
	// ErrorCode is empty and Message holds the XML, whose Code is the
	// gateway's.
	_, err = classicClient(t, info.AccessKeyID, "wrong-secret").ProcessCommonRequest(iceRequest(em, "GetMediaInfo", "XML", map[string]string{"MediaId": m.MediaID}))
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) || se.HttpStatus() != 400 {
		t.Fatalf("XML error: %v", err)
	}
	var e struct {
		XMLName                                     xml.Name `xml:"Error"`
		RequestId, HostId, Code, Message, Recommend string
	}
	if err := xml.Unmarshal([]byte(se.Message()), &e); err != nil || e.Code != "SignatureDoesNotMatch" || e.RequestId == "" || e.Recommend == "" {
		t.Errorf("XML error body %q: %+v (%v)", se.Message(), e, err)
	}
}

func TestClassicSDKErrors(t *testing.T) {
	clk := &iceClock{}
	em := startICE(t, clk)
	info := em.Info()
	id := map[string]string{"MediaId": info.Media[0].MediaID}

	// A wrong secret: SignatureDoesNotMatch, and the server's string to sign
	// is the SDK's own, so the SDK concludes the secret is wrong.
	_, err := classicClient(t, info.AccessKeyID, "wrong-secret").ProcessCommonRequest(iceRequest(em, "RefreshUploadMedia", "JSON", id))
	se := serverError(t, err, 400, "SignatureDoesNotMatch")
	if !strings.Contains(se.Recommend(), "InvalidAccessKeySecret") {
		t.Errorf("the SDK did not recognise its own string to sign: Recommend %q, message %q", se.Recommend(), se.Message())
	}

	// An unknown AccessKeyId.
	_, err = classicClient(t, "LTAInobody", info.AccessKeySecret).ProcessCommonRequest(iceRequest(em, "GetMediaInfo", "JSON", id))
	serverError(t, err, 404, "InvalidAccessKeyId.NotFound")

	// A replayed request: same nonce, timestamp and signature.
	c := classicClient(t, info.AccessKeyID, info.AccessKeySecret)
	rp := &replayer{}
	c.SetTransport(rp)
	if _, err := c.ProcessCommonRequest(iceRequest(em, "GetMediaInfo", "JSON", id)); err != nil {
		t.Fatal(err)
	}
	rp.mu.Lock()
	rp.armed = true
	rp.mu.Unlock()
	_, err = c.ProcessCommonRequest(iceRequest(em, "GetMediaInfo", "JSON", id))
	serverError(t, err, 400, "SignatureNonceUsed")

	// A timestamp more than 15 minutes from the server's clock.
	clk.Skew(16 * time.Minute)
	_, err = classicClient(t, info.AccessKeyID, info.AccessKeySecret).ProcessCommonRequest(iceRequest(em, "RefreshUploadMedia", "JSON", id))
	serverError(t, err, 400, "InvalidTimeStamp.Expired")
	clk.Skew(0)

	// An unknown media and an unknown action.
	_, err = c.ProcessCommonRequest(iceRequest(em, "GetMediaInfo", "JSON", map[string]string{"MediaId": strings.Repeat("0", 32)}))
	if err == nil {
		t.Fatal("unknown media accepted")
	}
	rp.mu.Lock()
	rp.armed = false
	rp.mu.Unlock()
	_, err = c.ProcessCommonRequest(iceRequest(em, "GetMediaInfo", "JSON", map[string]string{"MediaId": strings.Repeat("0", 32)}))
	serverError(t, err, 404, "ResourceNotFound")
	_, err = c.ProcessCommonRequest(iceRequest(em, "DeleteMediaInfos", "JSON", id))
	serverError(t, err, 404, "InvalidAction.NotFound")
}
