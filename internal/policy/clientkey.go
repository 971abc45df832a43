package policy

import (
	"net/netip"
	"strings"
)

// ClientIP returns the client address of a request: from the trusted header's
// value when header names one and its value holds a valid address, else from
// remoteAddr ("ip:port", "[ipv6]:port" or a bare address). For
// X-Forwarded-For the rightmost valid entry is used: it was appended by the
// proxy in front of this server, while the entries left of it come from the
// client and can be forged. Other headers (X-Real-IP, CF-Connecting-IP) hold
// one address. IPv4-mapped IPv6 addresses are unmapped; zones are dropped.
// ok is false when no address could be parsed.
//
// Engine-neutral core: another engine passes its remote address string and
// the header's value (for several header lines, the last one).
func ClientIP(remoteAddr, header, headerValue string) (addr netip.Addr, ok bool) {
	if header != "" && headerValue != "" {
		if strings.EqualFold(header, "X-Forwarded-For") {
			v := headerValue
			for v != "" {
				var last string
				if i := strings.LastIndexByte(v, ','); i >= 0 {
					v, last = v[:i], v[i+1:]
				} else {
					v, last = "", v
				}
				if a, ok := parseHostAddr(strings.TrimSpace(last)); ok {
					return a, true
				}
				if strings.TrimSpace(last) != "" {
					break // the proxy's own entry is garbage: do not trust older ones
				}
			}
		} else if a, ok := parseHostAddr(strings.TrimSpace(headerValue)); ok {
			return a, true
		}
	}
	return parseHostAddr(remoteAddr)
}

// parseHostAddr parses "ip", "ip:port" or "[ip]:port".
func parseHostAddr(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(s); err == nil {
		a = ap.Addr()
	} else if a2, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		a = a2
	} else {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// AppendClientKey appends the rate-limit key of addr to dst: the address
// itself for IPv4, its first v6Prefix bits for IPv6 (a host usually owns a
// whole /64, so per-address keys would let it multiply its quota). An invalid
// addr appends "unknown". v6Prefix outside 1..128 means 64.
func AppendClientKey(dst []byte, addr netip.Addr, v6Prefix int) []byte {
	if !addr.IsValid() {
		return append(dst, "unknown"...)
	}
	if addr.Is6() {
		if v6Prefix < 1 || v6Prefix > 128 {
			v6Prefix = 64
		}
		if v6Prefix < 128 {
			p, err := addr.Prefix(v6Prefix)
			if err == nil {
				return p.AppendTo(dst)
			}
		}
	}
	return addr.AppendTo(dst)
}
