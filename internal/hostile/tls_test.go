package hostile

import "crypto/tls"

// insecureTLS trusts serve's --tls-self-signed certificate.
func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}
}
