package portmux

import (
	"context"
	"errors"
	"net"

	"google.golang.org/grpc/credentials"
)

// Credentials returns server transport credentials for a grpc.Server that
// serves a split gRPC listener. TLS was already terminated by portmux, so
// the handshake does nothing; connections on which portmux terminated TLS
// report credentials.TLSInfo (peer.AuthInfo works as with TLS credentials),
// others report no security, like insecure credentials.
func Credentials() credentials.TransportCredentials { return creds{} }

type creds struct{}

// plainInfo is the AuthInfo of connections without TLS.
type plainInfo struct{ credentials.CommonAuthInfo }

func (plainInfo) AuthType() string { return "insecure" }

var errClientSide = errors.New("portmux: Credentials are for servers only")

func (creds) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errClientSide
}

func (creds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if pc, ok := c.(*Conn); ok && pc.tls != nil {
		return c, credentials.TLSInfo{
			State:          pc.tls.ConnectionState(),
			CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
		}, nil
	}
	return c, plainInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
}

func (creds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "portmux"}
}

func (c creds) Clone() credentials.TransportCredentials { return c }

func (creds) OverrideServerName(string) error { return nil }
