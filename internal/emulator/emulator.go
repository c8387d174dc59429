// Package emulator runs the fake ICE API (refresh/icetest) and the fake OSS
// (ossupload/osstest) together on loopback, sharing state: the STS
// credentials ICE hands out are the ones OSS accepts, for exactly the media's
// object. The CLI's emulator and demo commands, the end-to-end tests and the
// benchmarks all start it the same way, which is why it is a package.
package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reupload/reupload/ossupload/osstest"
	"github.com/reupload/reupload/refresh/icetest"
)

// Config says what to start. The zero value starts both servers on
// 127.0.0.1 with random ports, in-memory storage and one seeded media.
type Config struct {
	ICEAddr, OSSAddr string        // listen addresses; "" means 127.0.0.1:0
	Region           string        // "" means cn-shanghai
	DataDir          string        // persist objects here; "" keeps them in memory
	Discard          bool          // keep only sizes and checksums (benchmarks of huge files)
	Media            int           // media to seed; 0 means 1, negative means none
	STSTTL           time.Duration // upload credential lifetime; 0 means 3000 s
	Latency, Jitter  time.Duration // added to every OSS response
	ConnBandwidth    int64         // bytes/s per OSS connection; 0 means unlimited
	TotalBandwidth   int64         // bytes/s across OSS; 0 means unlimited
	Faults           []string      // fault specs; ICE actions go to ICE, the rest to OSS
	QPS              float64       // ICE throttling; 0 means unlimited
	// MediaLag is how long after an overwrite GetMediaInfo keeps showing
	// the old source with Status Uploading; 0 means the new one shows at once.
	MediaLag time.Duration
	// Deny, when set, adds a second caller key (Info.DeniedAccessKeyID)
	// that ICE refuses with 403 Forbidden.RAM for these ICE actions, or,
	// when they are OSS RAM actions ("oss:ListMultipartUploads"), that OSS
	// refuses with 403 AccessDenied for them. A caller denied OSS actions
	// is an STS caller (Info.DeniedSecurityToken), the only kind of key
	// osstest limits by policy, allowed every ICE action and every other
	// OSS action on Bucket; ICE and OSS actions cannot be mixed.
	Deny   []string
	Now    func() time.Time
	Logger *slog.Logger
}

// Media is one seeded media asset.
type Media struct {
	MediaID string `json:"media_id"`
	Title   string `json:"title"`
	Bucket  string `json:"bucket"`
	Object  string `json:"object"`
}

// Info is the JSON line `reupload emulator` prints when it is ready.
type Info struct {
	ICEEndpoint     string `json:"ice_endpoint"`
	OSSEndpoint     string `json:"oss_endpoint"`
	Region          string `json:"region"`
	AccessKeyID     string `json:"access_key_id"`
	AccessKeySecret string `json:"access_key_secret"`
	// The key ICE refuses with Forbidden.RAM for DeniedActions (Config.Deny);
	// absent without --deny.
	DeniedAccessKeyID     string   `json:"denied_access_key_id,omitempty"`
	DeniedAccessKeySecret string   `json:"denied_access_key_secret,omitempty"`
	DeniedSecurityToken   string   `json:"denied_security_token,omitempty"` // only when OSS actions are denied
	DeniedActions         []string `json:"denied_actions,omitempty"`
	Media                 []Media  `json:"media"`
}

// Emulator is a running pair of fakes.
type Emulator struct {
	ICE    *icetest.Server
	OSS    *osstest.Server
	info   Info
	issued *recorder
}

// recorder remembers every secret handed out, so that tests can prove none
// of them leaks into output, logs or checkpoints.
type recorder struct {
	icetest.TokenIssuer
	mu      sync.Mutex
	secrets []string
}

func (r *recorder) IssueToken(bucket, object string, ttl time.Duration) (string, string, string, time.Time) {
	id, secret, token, exp := r.TokenIssuer.IssueToken(bucket, object, ttl)
	r.mu.Lock()
	r.secrets = append(r.secrets, secret, token)
	r.mu.Unlock()
	return id, secret, token, exp
}

// IssuedSecrets lists every STS AccessKeySecret and SecurityToken handed
// out so far, every raw UploadAuth that carried them, and the caller key's
// secret: what must never appear in any output, log or checkpoint.
func (e *Emulator) IssuedSecrets() []string {
	e.issued.mu.Lock()
	out := append([]string{e.info.AccessKeySecret}, e.issued.secrets...)
	if e.info.DeniedAccessKeySecret != "" {
		out = append(out, e.info.DeniedAccessKeySecret)
	}
	if e.info.DeniedSecurityToken != "" {
		out = append(out, e.info.DeniedSecurityToken)
	}
	e.issued.mu.Unlock()
	return append(out, e.ICE.IssuedUploadAuths()...)
}

// AddFault injects a fault given in the --fault grammar: specs naming an
// ICE action go to ICE, the rest to OSS.
func (e *Emulator) AddFault(spec string) error {
	if isICEAction(spec) {
		f, err := icetest.ParseFault(spec)
		if err != nil {
			return fmt.Errorf("--fault %q: %w", spec, err)
		}
		e.ICE.AddFault(f)
		return nil
	}
	f, err := osstest.ParseFault(spec)
	if err != nil {
		return fmt.Errorf("--fault %q: %w", spec, err)
	}
	e.OSS.AddFault(f)
	return nil
}

// ossActions are the OSS RAM actions Config.Deny may name (osstest's
// TokenPolicy knows them).
var ossActions = []string{"oss:PutObject", "oss:GetObject", "oss:DeleteObject", "oss:ListParts",
	"oss:AbortMultipartUpload", "oss:ListMultipartUploads"}

// deniedTTL is the lifetime of the STS caller Deny makes for OSS actions:
// longer than any emulator runs.
const deniedTTL = 10 * 365 * 24 * time.Hour

// Bucket is the bucket seeded media live in.
const Bucket = "outin-emulator"

// OldSource is the content every seeded media starts with, so that tests can
// tell the old source from the new one.
func OldSource(mediaID string) []byte {
	return []byte(strings.Repeat("old source of media "+mediaID+"\n", 64))
}

// Start starts both servers and seeds media.
func Start(cfg Config) (*Emulator, error) {
	if cfg.Region == "" {
		cfg.Region = "cn-shanghai"
	}
	var store osstest.Storage
	switch {
	case cfg.Discard:
		store = osstest.NewDiscardStorage()
	case cfg.DataDir != "":
		s, err := osstest.NewDirStorage(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("--data %s: %w", cfg.DataDir, err)
		}
		store = s
	}
	oss, err := osstest.NewServer(osstest.Options{
		Addr: cfg.OSSAddr, Region: cfg.Region, Storage: store, Now: cfg.Now,
		Latency: cfg.Latency, LatencyJitter: cfg.Jitter,
		ConnBandwidth: cfg.ConnBandwidth, TotalBandwidth: cfg.TotalBandwidth, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("start OSS emulator: %w", err)
	}
	var denyOSS, denyICE []string
	for _, a := range cfg.Deny {
		switch {
		case slices.Contains(icetest.Actions, strings.TrimPrefix(a, "ice:")):
			denyICE = append(denyICE, a)
		case slices.Contains(ossActions, a):
			denyOSS = append(denyOSS, a)
		default:
			oss.Close()
			return nil, fmt.Errorf("--deny %q: want one of %s, %s", a, strings.Join(icetest.Actions, ", "), strings.Join(ossActions, ", "))
		}
	}
	if len(denyOSS) > 0 && len(denyICE) > 0 {
		oss.Close()
		return nil, fmt.Errorf("--deny: give ICE actions (%s) or OSS actions (%s), not both", strings.Join(denyICE, ", "), strings.Join(denyOSS, ", "))
	}
	issued := &recorder{TokenIssuer: oss}
	ice, err := icetest.NewServer(icetest.Options{
		Addr: cfg.ICEAddr, Region: cfg.Region, OSSEndpoint: oss.URL(), Issuer: issued,
		STSTTL: cfg.STSTTL, QPS: cfg.QPS, Now: cfg.Now, Logger: cfg.Logger,
		Store: objectStore{oss}, Presigner: oss, MediaLag: cfg.MediaLag,
	})
	if err != nil {
		oss.Close()
		return nil, fmt.Errorf("start ICE emulator: %w", err)
	}
	e := &Emulator{ICE: ice, OSS: oss, issued: issued}
	for _, spec := range cfg.Faults {
		if err := e.AddFault(spec); err != nil {
			e.Close()
			return nil, err
		}
	}
	e.info = Info{ICEEndpoint: ice.URL(), OSSEndpoint: oss.URL(), Region: cfg.Region,
		AccessKeyID: "LTEMU" + randHex(8), AccessKeySecret: randHex(16)}
	// The caller's key is an account key on both: as with a real account,
	// the one key signs ICE calls and, for housekeeping that the upload
	// credential cannot do (ListMultipartUploads), OSS requests.
	ice.AddAccessKey(e.info.AccessKeyID, e.info.AccessKeySecret)
	oss.AddAccessKey(e.info.AccessKeyID, e.info.AccessKeySecret)
	switch {
	case len(denyICE) > 0:
		e.info.DeniedAccessKeyID, e.info.DeniedAccessKeySecret = "LTEMU"+randHex(8), randHex(16)
		for _, a := range denyICE {
			e.info.DeniedActions = append(e.info.DeniedActions, strings.TrimPrefix(a, "ice:"))
		}
		ice.AddAccessKeyDeny(e.info.DeniedAccessKeyID, e.info.DeniedAccessKeySecret, denyICE...)
		oss.AddAccessKey(e.info.DeniedAccessKeyID, e.info.DeniedAccessKeySecret)
	case len(denyOSS) > 0:
		var allowed []string
		for _, a := range ossActions {
			if !slices.Contains(denyOSS, a) {
				allowed = append(allowed, a)
			}
		}
		id, secret, token, exp := oss.IssueTokenPolicy(osstest.TokenPolicy{Bucket: Bucket, Object: "*", Actions: allowed}, deniedTTL)
		ice.AddSTS(id, secret, token, exp)
		e.info.DeniedAccessKeyID, e.info.DeniedAccessKeySecret, e.info.DeniedSecurityToken = id, secret, token
		e.info.DeniedActions = denyOSS
	}
	oss.CreateBucket(Bucket)
	n := cfg.Media
	if n == 0 {
		n = 1
	}
	for i := 0; i < n; i++ {
		if _, err := e.AddMedia(fmt.Sprintf("media-%d", i+1)); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// objectStore lets ICE see the sources on the fake OSS.
type objectStore struct{ oss *osstest.Server }

func (s objectStore) StatObject(bucket, key string) (icetest.ObjectStat, bool) {
	o, ok := s.oss.Object(bucket, key)
	return icetest.ObjectStat{Size: o.Size, LastModified: o.LastModified}, ok
}

// titles are the seeded media's titles, in seeding order; past the end of
// the list they repeat with a part number.
var titles = []string{
	"Spring launch keynote", "Customer story: Harbor Logistics", "Product demo: batch export",
	"Quarterly all-hands recording", "Onboarding walkthrough", "Summer campaign teaser",
	"Engineering town hall", "Webinar: media pipelines at scale", "Holiday greeting 2025",
	"Conference talk: resumable uploads", "Support tutorial: resetting a password", "Brand film (director's cut)",
}

// Title is the title of the n-th seeded media (from 1).
func Title(n int) string {
	t := titles[(n-1)%len(titles)]
	if n > len(titles) {
		t += fmt.Sprintf(" (part %d)", (n-1)/len(titles)+1)
	}
	return t
}

// AddMedia seeds one media, named for readability; its id derives from name.
// Its title is the next of the seeded titles.
func (e *Emulator) AddMedia(name string) (Media, error) {
	m := Media{MediaID: icetest.MediaID(name), Title: Title(len(e.info.Media) + 1), Bucket: Bucket, Object: "sv/" + name + "/source.mp4"}
	if err := e.OSS.PutObjectData(m.Bucket, m.Object, OldSource(m.MediaID)); err != nil {
		return Media{}, fmt.Errorf("seed %s: %w", name, err)
	}
	// Seeded sources are text, not video: the fake reports the
	// dimensions and duration a small 720p clip would have.
	e.ICE.AddMedia(icetest.Media{ID: m.MediaID, Bucket: m.Bucket, Object: m.Object, Title: m.Title,
		Description: "Seeded by reupload emulator", Duration: 12.5, Width: 1280, Height: 720})
	e.info.Media = append(e.info.Media, m)
	return m, nil
}

// Info describes the running emulator (the JSON line's content).
func (e *Emulator) Info() Info {
	i := e.info
	i.Media = append([]Media(nil), e.info.Media...)
	return i
}

// Close stops both servers.
func (e *Emulator) Close() {
	e.ICE.Close()
	e.OSS.Close()
}

func isICEAction(spec string) bool {
	action, _, _ := strings.Cut(spec, ":")
	return slices.Contains(icetest.Actions, action)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails since Go 1.24
	return strings.ToUpper(hex.EncodeToString(b))
}
