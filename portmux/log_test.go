package portmux

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
)

func TestLogFloods(t *testing.T) {
	var buf bytes.Buffer
	onError := LogFloods(slog.New(slog.NewTextHandler(&buf, nil)))
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242}
	for _, tc := range []struct {
		err    error
		logged bool
	}{
		{fmt.Errorf("%w: SETTINGS over budget", ErrFlood), true},
		{errPlaintext, false},
		{errors.New("portmux: TLS handshake: EOF"), false},
	} {
		buf.Reset()
		onError(remote, tc.err)
		line := buf.String()
		if got := line != ""; got != tc.logged {
			t.Errorf("%v: logged %q, want logged %v", tc.err, line, tc.logged)
		}
		if tc.logged && (!strings.Contains(line, "level=WARN") || !strings.Contains(line, "127.0.0.1:4242") || !strings.Contains(line, "SETTINGS over budget")) {
			t.Errorf("flood line %q lacks the level, the remote address or the reason", line)
		}
	}
	if LogFloods(nil) != nil {
		t.Error("LogFloods(nil) is not nil: Options.OnError would be called for nothing")
	}
}
