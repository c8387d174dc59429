package reupload

import (
	"context"
	"errors"

	"github.com/reupload/reupload/refresh"
)

// Searcher is the optional part of ICE that SearchMedia needs;
// *refresh.Client has it.
type Searcher interface {
	SearchMedia(ctx context.Context, q refresh.SearchQuery) (*refresh.SearchResult, error)
}

// ErrNoSearch is returned by SearchMedia when the client's ICE cannot search.
var ErrNoSearch = errors.New("this client's ICE API has no SearchMedia")

// MediaInfo returns ICE's view of mediaID (GetMediaInfo; needs
// ice:GetMediaInfo).
func (c *Client) MediaInfo(ctx context.Context, mediaID string) (*refresh.MediaInfo, error) {
	if err := refresh.ValidateMediaID(mediaID); err != nil {
		return nil, &InputError{Field: "MediaId", Err: err}
	}
	return c.ice.GetMediaInfo(ctx, mediaID)
}

// SearchMedia finds media (ICE SearchMedia; needs ice:SearchMedia), e.g.
// by title with refresh.TitleMatch.
func (c *Client) SearchMedia(ctx context.Context, q refresh.SearchQuery) (*refresh.SearchResult, error) {
	s, ok := c.ice.(Searcher)
	if !ok {
		return nil, ErrNoSearch
	}
	return s.SearchMedia(ctx, q)
}

// Scrub folds s onto one line (OneLine) and removes from it, by value,
// every secret this client holds or has received: the caller's
// AccessKeySecret and SecurityToken, and each STS credential and raw
// UploadAuth ICE handed out. Use it on any text about to be printed or
// logged that may echo a request (an ICE or OSS message, say).
func (c *Client) Scrub(s string) string {
	s = OneLine(s)
	if c.secrets != nil {
		s = c.secrets.Scrub(s)
	}
	return s
}
