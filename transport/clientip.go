package transport

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

type clientIPKey struct{}

// ClientIP returns the client address that the transport's middleware
// resolved for r, or the peer address when the middleware did not run. A
// peer that is not an IP (a Unix socket) reports 127.0.0.1.
func ClientIP(r *http.Request) netip.Addr {
	if a, ok := ClientIPFromContext(r.Context()); ok {
		return a
	}
	return peerAddr(r.RemoteAddr)
}

// ClientIPFromContext returns the client address stored by the middleware.
func ClientIPFromContext(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(clientIPKey{}).(netip.Addr)
	return a, ok
}

// NewContextWithClientIP returns ctx carrying a as the client address.
func NewContextWithClientIP(ctx context.Context, a netip.Addr) context.Context {
	return context.WithValue(ctx, clientIPKey{}, a)
}

func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// proxies decides which peers are trusted proxies.
type proxies []netip.Prefix

func (p proxies) trusted(a netip.Addr) bool {
	for _, pre := range p {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// resolve returns the client address for a request from peer carrying the
// given X-Forwarded-For values. Only when the peer is a trusted proxy is the
// header read, right to left: each trusted hop is skipped and the first
// untrusted one is the client, so whatever a client writes at the left of the
// header is never believed. A malformed hop stops the walk at the last
// trusted address, which is then the client.
func (p proxies) resolve(peer netip.Addr, xff []string) netip.Addr {
	if len(p) == 0 || !p.trusted(peer) {
		return peer
	}
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			h := strings.TrimSpace(hops[j])
			if h == "" {
				continue
			}
			a, err := netip.ParseAddr(h)
			if err != nil {
				return client
			}
			a = a.Unmap().WithZone("")
			if !p.trusted(a) {
				return a
			}
			client = a
		}
	}
	return client
}

// ClientIPMiddleware resolves the client address of each request (see
// Config.TrustedProxies), stores it in the request context for ClientIP, and
// rewrites r.RemoteAddr to "ip:port" of that client so that handlers that
// read RemoteAddr see the real client too. With trusted set to nil the peer
// address is always used and X-Forwarded-For is ignored.
func ClientIPMiddleware(trusted []netip.Prefix, next http.Handler) http.Handler {
	p := proxies(trusted)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := peerAddr(r.RemoteAddr)
		client := p.resolve(peer, r.Header.Values("X-Forwarded-For"))
		r2 := r.WithContext(NewContextWithClientIP(r.Context(), client))
		port := uint16(0)
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && client == peer {
			port = ap.Port()
		}
		r2.RemoteAddr = netip.AddrPortFrom(client, port).String()
		next.ServeHTTP(w, r2)
	})
}
