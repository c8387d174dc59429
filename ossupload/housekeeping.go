package ossupload

import (
	"context"
	"errors"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
)

// MultipartUpload is one unfinished multipart upload that OSS lists.
type MultipartUpload struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// UploadLister is an optional interface of a PartAPI that can list a
// bucket's unfinished multipart uploads (ListMultipartUploads). NewOSSAPI's
// adapter has it. The call is bucket-level: it needs
// oss:ListMultipartUploads on the bucket, which the upload credential
// RefreshUploadMedia hands out (scoped to one object) never has.
type UploadLister interface {
	// ListMultipartUploads returns every unfinished upload whose key
	// starts with prefix, all pages, sorted by key then initiation.
	ListMultipartUploads(ctx context.Context, prefix string) ([]MultipartUpload, error)
}

// ErrNoLister is returned by ListUploads when the PartAPI that
// Options.NewAPI builds cannot list uploads (it is not an UploadLister).
var ErrNoLister = errors.New("ossupload: this PartAPI cannot list multipart uploads")

// ListUploads lists the unfinished multipart uploads of exactly the object
// auth's grant names (ListMultipartUploads with the key as prefix; uploads
// of longer keys that share the prefix are left out). The grant's
// credential must be allowed oss:ListMultipartUploads on the bucket: the
// caller's own, not an upload credential. Failures are retried and
// classified as an upload's are (see PartAPI); a refusal is the
// *OSSError OSS sent (403 AccessDenied).
func ListUploads(ctx context.Context, auth Authorizer, opts Options) ([]MultipartUpload, error) {
	r, t, api, err := housekeep(ctx, auth, opts)
	if err != nil {
		return nil, err
	}
	defer closeAPI(api)
	l, ok := api.(UploadLister)
	if !ok {
		return nil, ErrNoLister
	}
	var all []MultipartUpload
	err = r.call(ctx, "ListMultipartUploads", func(ctx context.Context) error {
		var err error
		all, err = l.ListMultipartUploads(ctx, t.Key)
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []MultipartUpload
	for _, u := range all {
		if u.Key == t.Key {
			out = append(out, u)
		}
	}
	return out, nil
}

// Abort aborts the unfinished multipart uploads uploadIDs of the object
// auth's grant names, one after the other, through the engine's retry: a
// transient failure is retried with backoff, and a rejected or expiring
// credential is replaced by asking auth again (see PartAPI). gone[i]
// reports that OSS no longer knew uploadIDs[i] (NoSuchUpload: completed or
// aborted already), which is not an error. Abort stops at the first upload
// it cannot abort and returns what it did so far with the error.
func Abort(ctx context.Context, auth Authorizer, opts Options, uploadIDs ...string) (gone []bool, err error) {
	r, t, api, err := housekeep(ctx, auth, opts)
	if err != nil {
		return nil, err
	}
	defer closeAPI(api)
	for _, id := range uploadIDs {
		err := r.call(ctx, "AbortMultipartUpload", func(ctx context.Context) error {
			return api.AbortMultipartUpload(ctx, t.Key, id)
		})
		switch {
		case err == nil:
			gone = append(gone, false)
		case classify(err) == classRestart:
			gone = append(gone, true)
		default:
			return gone, err
		}
	}
	return gone, nil
}

// ListMultipartUploads pages through the bucket's unfinished uploads under
// prefix (the SDK asks with encoding-type=url and decodes the keys).
func (a *sdkAPI) ListMultipartUploads(ctx context.Context, prefix string) ([]MultipartUpload, error) {
	var out []MultipartUpload
	keyMarker, idMarker := "", ""
	for {
		opts := []oss.Option{oss.WithContext(ctx), oss.Prefix(prefix), oss.MaxUploads(1000)}
		if keyMarker != "" {
			opts = append(opts, oss.KeyMarker(keyMarker), oss.UploadIDMarker(idMarker))
		}
		r, err := a.bucket.ListMultipartUploads(opts...)
		if err != nil {
			return nil, fromSDK("ListMultipartUploads", err)
		}
		for _, u := range r.Uploads {
			out = append(out, MultipartUpload{Key: u.Key, UploadID: u.UploadID, Initiated: u.Initiated})
		}
		if !r.IsTruncated || r.NextKeyMarker == "" || r.NextKeyMarker == keyMarker && r.NextUploadIDMarker == idMarker {
			return out, nil
		}
		keyMarker, idMarker = r.NextKeyMarker, r.NextUploadIDMarker
	}
}

// housekeep sets up a run for calls that upload nothing (listing and
// aborting uploads): the first grant from auth, and an API for its target
// whose requests go through the run's credential refresh. The caller
// closes the API (closeAPI).
func housekeep(ctx context.Context, auth Authorizer, opts Options) (*run, Target, PartAPI, error) {
	opts.fill()
	r, err := startRun(ctx, auth, Source{}, opts)
	if err != nil {
		return nil, Target{}, nil, err
	}
	t, _ := r.target()
	api, err := r.opts.NewAPI(t, r)
	if err != nil {
		return nil, Target{}, nil, err
	}
	return r, t, api, nil
}
