package cli

import (
	"net"
	"strings"
	"testing"

	"github.com/hotpath-dev/hotpath/report"
	"github.com/hotpath-dev/hotpath/rpc"
)

// TestBenchGRPCWiring runs `hotpath bench --grpc` end to end through the
// flags defined in bench_grpc.go, against hotpath's gRPC server.
func TestBenchGRPCWiring(t *testing.T) {
	s, err := rpc.New(rpc.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() { s.Stop(); <-done })
	url := "http://" + ln.Addr().String()

	code, out, stderr := runMain("bench", "--grpc", "--call", "hotpath.v1.EchoService/Echo",
		"--body", `{"message":"hi"}`, "-c", "2", "--streams", "4", "-n", "200", "-o", "json", url)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r, err := report.ReadJSON("stdout", []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 200 || r.Errors != 0 || r.Streams != 4 || r.Connections != 2 {
		t.Fatalf("requests %d errors %d streams %d conns %d classes %v status %v protocol %q",
			r.Requests, r.Errors, r.Streams, r.Connections, r.ErrorClasses, r.Status, r.Protocol)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"--call without --grpc", []string{"bench", "--call", "a.B/C", url}, "--call needs --grpc"},
		{"--grpc without --call", []string{"bench", "--grpc", url}, "--grpc needs --call"},
		{"--grpc with --h2c", []string{"bench", "--grpc", "--h2c", "--call", "a.B/C", url}, "--h2c does not apply"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(tt.args...)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("exit %d stderr %q, want exit 2 with one line containing %q", code, stderr, tt.want)
			}
		})
	}
}
