package reupload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/reupload/reupload/ossupload"
	"github.com/reupload/reupload/refresh"
	"github.com/reupload/reupload/resume"
)

// Pending lists the unfinished uploads in the state directory (one
// checkpoint each), sorted by MediaId. Unreadable checkpoints are skipped and
// reported in the error (see resume.Store.List), so a non-nil error can come
// with a non-empty list.
func (c *Client) Pending() ([]*resume.Checkpoint, error) { return c.store.List() }

// AbortResult says what Abort did.
type AbortResult struct {
	MediaID  string `json:"media_id"`
	Bucket   string `json:"bucket"`
	Object   string `json:"object"`
	UploadID string `json:"upload_id"`
	// Gone is true when OSS no longer knew the upload (NoSuchUpload): it had
	// been completed or aborted already. The checkpoint is removed anyway.
	Gone bool `json:"gone,omitempty"`
}

// Abort aborts mediaID's unfinished multipart upload on OSS, so its parts
// stop costing storage, and removes the checkpoint. It takes the media's
// lock first (a running upload makes it fail with *resume.LockedError) and
// asks ICE RefreshUploadMedia for a credential to the media's object. A
// media with no checkpoint is an error wrapping os.ErrNotExist.
func (c *Client) Abort(ctx context.Context, mediaID string) (*AbortResult, error) {
	if err := refresh.ValidateMediaID(mediaID); err != nil {
		return nil, &InputError{Field: "MediaId", Err: err}
	}
	h, err := c.store.Lock(mediaID)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	cp, err := h.Load()
	if err != nil {
		var ce *resume.CorruptError
		if errors.As(err, &ce) {
			// Nothing on OSS can be named from it; drop it.
			return nil, errors.Join(err, h.Remove())
		}
		return nil, err
	}
	res := &AbortResult{MediaID: mediaID, Bucket: cp.Bucket, Object: cp.Key, UploadID: cp.UploadID}
	gone, err := ossupload.Abort(ctx, c.checkpointAuth(cp), c.engineOptions(), cp.UploadID)
	if err != nil {
		return nil, err
	}
	res.Gone = gone[0]
	if err := h.Remove(); err != nil {
		return nil, err
	}
	return res, nil
}

// Stale returns the pending uploads whose checkpoint was last updated
// before now minus age, for `abort --older-than`.
func (c *Client) Stale(age time.Duration, now time.Time) ([]*resume.Checkpoint, error) {
	cps, err := c.store.List()
	var out []*resume.Checkpoint
	for _, cp := range cps {
		if now.Sub(cp.Updated) > age {
			out = append(out, cp)
		}
	}
	return out, err
}

// engineOptions are the engine settings of a housekeeping call: the
// client's HTTP client, retry sleep and logger.
func (c *Client) engineOptions() ossupload.Options {
	return ossupload.Options{Sleep: c.cfg.Sleep, Logger: c.log, SDK: ossupload.SDKConfig{HTTPClient: c.cfg.HTTPClient}}
}

// checkpointAuth asks ICE RefreshUploadMedia for a credential to the object
// a checkpoint names (the credential is scoped to the media's object); it
// fails when the media now lives elsewhere, since the credential cannot
// touch the checkpoint's object then.
func (c *Client) checkpointAuth(cp *resume.Checkpoint) ossupload.Authorizer {
	return ossupload.AuthorizerFunc(func(ctx context.Context) (ossupload.Grant, error) {
		up, err := c.ice.RefreshUploadMedia(ctx, cp.MediaID)
		if err != nil {
			return ossupload.Grant{}, err
		}
		g := c.grant(up)
		if t := g.Target; t.Bucket != cp.Bucket || t.Key != cp.Key {
			return ossupload.Grant{}, fmt.Errorf("media %s now lives at oss://%s/%s but its checkpoint names oss://%s/%s; abort that upload (%s) with an account that may",
				cp.MediaID, QuoteName(t.Bucket), QuoteName(t.Key), QuoteName(cp.Bucket), QuoteName(cp.Key), cp.UploadID)
		}
		if c.cfg.OSSEndpoint == "" && cp.Endpoint != "" {
			g.Target.Endpoint = cp.Endpoint
		}
		return g, nil
	})
}

// ossFor returns OSS access to the object a checkpoint names, with a fresh
// credential from RefreshUploadMedia (scoped to the media's object).
func (c *Client) ossFor(ctx context.Context, cp *resume.Checkpoint) (ossupload.PartAPI, error) {
	g, err := c.checkpointAuth(cp).Authorize(ctx)
	if err != nil {
		return nil, err
	}
	return ossupload.NewOSSAPI(g.Target, ossupload.StaticCredentials(g.Credentials), ossupload.SDKConfig{HTTPClient: c.cfg.HTTPClient, Logger: c.log})
}

// closeAPI releases an adapter's idle connections once a housekeeping call
// is done with it.
func closeAPI(api ossupload.PartAPI) {
	if c, ok := api.(io.Closer); ok {
		c.Close()
	}
}

// Confirmed asks OSS (ListParts, every page) which parts of the unfinished
// upload a checkpoint names it holds. gone reports an upload OSS no longer
// knows (aborted or completed elsewhere).
func (c *Client) Confirmed(ctx context.Context, cp *resume.Checkpoint) (parts int, bytes int64, gone bool, err error) {
	api, err := c.ossFor(ctx, cp)
	if err != nil {
		return 0, 0, false, err
	}
	defer closeAPI(api)
	listed, err := api.ListParts(ctx, cp.Key, cp.UploadID)
	var oe *ossupload.OSSError
	if errors.As(err, &oe) && oe.Code == "NoSuchUpload" {
		return 0, 0, true, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	for _, p := range listed {
		bytes += p.Size
	}
	return len(listed), bytes, false, nil
}

// OSSUpload is one unfinished multipart upload that OSS holds for a
// media's object, whether or not a checkpoint in the state directory
// knows it (one whose checkpoint was lost, or written on another machine).
type OSSUpload struct {
	MediaID   string    `json:"media_id"`
	Bucket    string    `json:"bucket"`
	Object    string    `json:"object"`
	UploadID  string    `json:"upload_id"`
	Initiated time.Time `json:"initiated"`
	// Checkpoint is true when the state directory's checkpoint for the
	// media names this upload (a later run resumes it).
	Checkpoint bool `json:"checkpoint"`
}

// PermissionError means the caller's own credential may not make an OSS
// call that housekeeping needs (OSS answered 403 AccessDenied, or there is
// no caller credential to sign with). Action is the RAM action to grant.
type PermissionError struct {
	Action string // e.g. "oss:ListMultipartUploads"
	Bucket string
	Err    error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("your credential lacks the RAM permission %s on bucket %s (the upload credential ICE hands out covers one object and cannot list): grant it to run this, or see 'reupload status' for the uploads your checkpoints name",
		e.Action, QuoteName(e.Bucket))
}

func (e *PermissionError) Unwrap() error { return e.Err }

// callerCredentials is implemented by *refresh.Client.
type callerCredentials interface {
	CallerCredential() (refresh.Credential, error)
}

// OSSUploads lists the unfinished multipart uploads OSS holds for
// mediaID's object (ListMultipartUploads with the object as prefix). The
// upload credential cannot list a bucket, so this signs with the caller's
// own credential, against the bucket and endpoint RefreshUploadMedia names;
// without oss:ListMultipartUploads on the bucket it fails with a
// *PermissionError.
func (c *Client) OSSUploads(ctx context.Context, mediaID string) ([]OSSUpload, error) {
	if err := refresh.ValidateMediaID(mediaID); err != nil {
		return nil, &InputError{Field: "MediaId", Err: err}
	}
	cps, _ := c.store.List() // an unreadable checkpoint names no upload
	var cp *resume.Checkpoint
	for _, p := range cps {
		if p.MediaID == mediaID {
			cp = p
		}
	}
	return c.ossUploads(ctx, mediaID, cp)
}

// ossUploads is OSSUploads with the media's checkpoint, if any.
func (c *Client) ossUploads(ctx context.Context, mediaID string, cp *resume.Checkpoint) ([]OSSUpload, error) {
	up, err := c.ice.RefreshUploadMedia(ctx, mediaID)
	if err != nil {
		return nil, err
	}
	t := c.grant(up).Target
	const action = "oss:ListMultipartUploads"
	cc, ok := c.ice.(callerCredentials)
	if !ok {
		return nil, &PermissionError{Action: action, Bucket: t.Bucket, Err: errors.New("the ICE client has no caller credential to sign OSS requests with")}
	}
	auth := ossupload.AuthorizerFunc(func(ctx context.Context) (ossupload.Grant, error) {
		cred, err := cc.CallerCredential()
		if err != nil {
			return ossupload.Grant{}, err
		}
		return ossupload.Grant{Target: t, Credentials: ossupload.Credentials{AccessKeyID: cred.AccessKeyID,
			AccessKeySecret: cred.AccessKeySecret.Reveal(), SecurityToken: cred.SecurityToken.Reveal()}}, nil
	})
	listed, err := ossupload.ListUploads(ctx, auth, c.engineOptions())
	var oe *ossupload.OSSError
	if errors.As(err, &oe) && oe.Code == "AccessDenied" {
		return nil, &PermissionError{Action: action, Bucket: t.Bucket, Err: err}
	}
	if err != nil {
		return nil, err
	}
	known := ""
	if cp != nil && cp.Bucket == t.Bucket && cp.Key == t.Key {
		known = cp.UploadID
	}
	out := make([]OSSUpload, len(listed))
	for i, u := range listed {
		out[i] = OSSUpload{MediaID: mediaID, Bucket: t.Bucket, Object: u.Key, UploadID: u.UploadID, Initiated: u.Initiated,
			Checkpoint: u.UploadID == known}
	}
	return out, nil
}

// AbortOSSUploads aborts every unfinished multipart upload OSS holds for
// mediaID's object, checkpoint or not, so that their parts stop costing
// storage, and removes the media's checkpoint when it named one of them.
// It lists them as OSSUploads does (the caller's credential needs
// oss:ListMultipartUploads) and aborts them with the upload credential,
// under the media's lock (a running upload makes it fail with
// *resume.LockedError). It returns what it aborted, also on error.
func (c *Client) AbortOSSUploads(ctx context.Context, mediaID string) ([]*AbortResult, error) {
	if err := refresh.ValidateMediaID(mediaID); err != nil {
		return nil, &InputError{Field: "MediaId", Err: err}
	}
	h, err := c.store.Lock(mediaID)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	cp, _ := h.Load() // none, or unreadable: it names no upload
	ups, err := c.ossUploads(ctx, mediaID, cp)
	if err != nil || len(ups) == 0 {
		return nil, err
	}
	ids := make([]string, len(ups))
	for i, u := range ups {
		ids[i] = u.UploadID
	}
	auth := ossupload.AuthorizerFunc(func(ctx context.Context) (ossupload.Grant, error) {
		up, err := c.ice.RefreshUploadMedia(ctx, mediaID)
		if err != nil {
			return ossupload.Grant{}, err
		}
		return c.grant(up), nil
	})
	gone, err := ossupload.Abort(ctx, auth, c.engineOptions(), ids...)
	var out []*AbortResult
	removeCP := false
	for i, g := range gone {
		u := ups[i]
		out = append(out, &AbortResult{MediaID: mediaID, Bucket: u.Bucket, Object: u.Object, UploadID: u.UploadID, Gone: g})
		removeCP = removeCP || u.Checkpoint
	}
	if removeCP {
		err = errors.Join(err, h.Remove())
	}
	return out, err
}
