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
	return ossupload.Options{Sleep: c.cfg.Sleep, SDK: ossupload.SDKConfig{HTTPClient: c.cfg.HTTPClient}}
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
	return ossupload.NewOSSAPI(g.Target, ossupload.StaticCredentials(g.Credentials), ossupload.SDKConfig{HTTPClient: c.cfg.HTTPClient})
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
