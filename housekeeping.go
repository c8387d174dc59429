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
	api, err := c.ossFor(ctx, cp)
	if err != nil {
		return nil, err
	}
	defer closeAPI(api)
	// Transient failures are retried: an abort that gives up leaves parts
	// costing storage.
	var backoff ossupload.Backoff
	for attempt := 1; ; attempt++ {
		err = api.AbortMultipartUpload(ctx, cp.Key, cp.UploadID)
		if !ossupload.Transient(err) || attempt == abortAttempts || ctx.Err() != nil {
			break
		}
		if serr := c.sleep(ctx, backoff.Delay(attempt, 0.5)); serr != nil {
			return nil, serr
		}
	}
	var oe *ossupload.OSSError
	if errors.As(err, &oe) && oe.Code == "NoSuchUpload" {
		res.Gone, err = true, nil
	}
	if err != nil {
		return nil, err
	}
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

const abortAttempts = 5

// ossFor returns OSS access to the object a checkpoint names, with a fresh
// credential from RefreshUploadMedia (scoped to the media's object).
func (c *Client) ossFor(ctx context.Context, cp *resume.Checkpoint) (ossupload.PartAPI, error) {
	up, err := c.ice.RefreshUploadMedia(ctx, cp.MediaID)
	if err != nil {
		return nil, err
	}
	g := c.grant(up)
	t := g.Target
	if t.Bucket != cp.Bucket || t.Key != cp.Key {
		// The credential is scoped to the media's current object; the
		// checkpoint names an older one, which it cannot touch.
		return nil, fmt.Errorf("media %s now lives at oss://%s/%s but its checkpoint names oss://%s/%s; abort that upload (%s) with an account that may", cp.MediaID, t.Bucket, t.Key, cp.Bucket, cp.Key, cp.UploadID)
	}
	if c.cfg.OSSEndpoint == "" && cp.Endpoint != "" {
		t.Endpoint = cp.Endpoint
	}
	return ossupload.NewOSSAPI(t, ossupload.StaticCredentials(g.Credentials), ossupload.SDKConfig{HTTPClient: c.cfg.HTTPClient})
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
