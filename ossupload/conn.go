package ossupload

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// newHTTPClient is the adapter's default client: HTTP/1.1 (as the SDK's),
// the proxy of the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, as the
// ICE client and curl use it), connect and response-header timeouts, and
// connections that fail when nothing moves on them for idle. Through a
// proxy, the connection to the proxy is the one watched for idleness.
//
// It replaces the SDK's own transport, whose connection wrapper re-arms two
// deadlines around every Read and Write: two runtime timer updates per
// 32 KiB of part body (per 16 KiB TLS record over https), with their locks
// some 5 % of the engine's CPU per GiB once the CRC-64 got cheap.
func newHTTPClient(connect, idle time.Duration) *http.Client {
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		// The ICE client's rule (it clones http.DefaultTransport): loopback
		// is never proxied, so the emulator is always reached directly. The
		// SDK's own Config.Proxy* settings are unused: we bring the client.
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return newIdleConn(c, idle), nil
		},
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: idle,
		MaxIdleConns:          128,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       idle,
	}}
}

// idleConn fails a connection on which no read and no write has started for
// idle: every Read or Write pushes the deadline of both directions to idle
// from now, but only when the last push is older than idle/16, so a busy
// connection updates its timers a few times per idle period instead of
// around every call. A stall is therefore noticed between 15/16 of idle and
// idle after the last progress.
type idleConn struct {
	net.Conn
	idle  time.Duration
	armed atomic.Int64 // when the deadline was last pushed, in UnixNano
}

func newIdleConn(c net.Conn, idle time.Duration) *idleConn {
	ic := &idleConn{Conn: c, idle: idle}
	ic.touch()
	return ic
}

func (c *idleConn) touch() {
	now := time.Now()
	last := c.armed.Load()
	if now.UnixNano()-last < int64(c.idle/16) || !c.armed.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	c.Conn.SetDeadline(now.Add(c.idle))
}

func (c *idleConn) Read(b []byte) (int, error) {
	c.touch()
	return c.Conn.Read(b)
}

func (c *idleConn) Write(b []byte) (int, error) {
	c.touch()
	return c.Conn.Write(b)
}
