// Package nofollow makes http.Clients that refuse to follow redirects.
//
// ICE and OSS API calls are never redirected by the real services, and a
// followed redirect would carry the call's signature and STS security token
// (x-acs-security-token, X-Oss-Security-Token) to whatever host the
// Location names, in clear if it is plain http. So a redirect is an error
// that names the Location's host and nothing else of it: its path and
// query may hold someone else's signature.
package nofollow

import (
	"fmt"
	"net/http"
)

// RedirectError is an API call answered with a redirect.
type RedirectError struct {
	Host   string // the Location's host[:port]; "" if it had none
	Status int    // the redirect's HTTP status, e.g. 307
}

func (e *RedirectError) Error() string {
	host := e.Host
	if host == "" {
		host = "a relative location"
	}
	return fmt.Sprintf("API call redirected to %s (HTTP %d); reupload never follows redirects of API calls: check the endpoint", host, e.Status)
}

// Client returns a shallow copy of c (a new client when c is nil) whose
// CheckRedirect refuses every redirect with a *RedirectError. c itself is
// left untouched, so a caller's client keeps its own policy for its own
// calls. The copy shares c's Transport, Jar and Timeout.
//
// http.Client.Do returns the error wrapped in a *url.Error whose URL is the
// Location, full query included: callers that print it should report the
// *RedirectError found with errors.As, or reset the *url.Error's URL.
func Client(c *http.Client) *http.Client {
	var cp http.Client
	if c != nil {
		cp = *c
	}
	cp.CheckRedirect = refuse
	return &cp
}

func refuse(req *http.Request, via []*http.Request) error {
	e := &RedirectError{Host: req.URL.Host}
	if req.Response != nil {
		e.Status = req.Response.StatusCode
	}
	return e
}
