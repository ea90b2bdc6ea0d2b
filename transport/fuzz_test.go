package transport

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzResolveClientIP feeds arbitrary X-Forwarded-For values from trusted
// and untrusted peers. The client is always the peer or an address written
// in the header, an untrusted peer is never overridden, and without
// trusted proxies the header is never believed.
func FuzzResolveClientIP(f *testing.F) {
	f.Add("10.0.0.2", "198.51.100.7")
	f.Add("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.9.9.9")
	f.Add("203.0.113.9", "10.1.1.1")
	f.Add("10.0.0.2", "bogus, ,,10.0.0.3")
	f.Add("fd00::1", "2001:db8::7, [::1], fd00::2")
	f.Add("10.0.0.2", "::ffff:10.0.0.9,fe80::1%eth0")
	trusted := proxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	f.Fuzz(func(t *testing.T, peerS, xff string) {
		peer, err := netip.ParseAddr(peerS)
		if err != nil {
			return
		}
		peer = peer.Unmap().WithZone("")
		got := trusted.resolve(peer, []string{xff})
		if !got.IsValid() {
			t.Fatalf("invalid client for peer %v xff %q", peer, xff)
		}
		if !trusted.trusted(peer) && got != peer {
			t.Fatalf("untrusted peer %v overridden by %v", peer, got)
		}
		if proxies(nil).resolve(peer, []string{xff}) != peer {
			t.Fatal("with no trusted proxies the header was believed")
		}
		if got == peer {
			return
		}
		var inHeader bool
		for _, h := range strings.Split(xff, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(h)); err == nil && a.Unmap().WithZone("") == got {
				inHeader = true
			}
		}
		if !inHeader {
			t.Fatalf("client %v neither the peer nor in the header %q", got, xff)
		}
	})
}
