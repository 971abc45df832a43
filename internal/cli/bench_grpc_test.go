package cli

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/hotpath-dev/hotpath/loadgen"
	"github.com/hotpath-dev/hotpath/rpc"
)

func TestGRPCBenchFlags(t *testing.T) {
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
	defer func() { s.Stop(); <-done }()
	url := "http://" + ln.Addr().String()

	cases := []struct {
		name string
		args []string
		want string // "" for success
	}{
		{"not asked", nil, ""},
		{"Now", []string{"--grpc", "--call", "hotpath.v1.TimeService/Now"}, ""},
		{"--call alone", []string{"--call", "hotpath.v1.TimeService/Now"}, "--call needs --grpc"},
		{"--grpc alone", []string{"--grpc"}, "--grpc needs --call"},
		{"with --h2c", []string{"--grpc", "--call", "hotpath.v1.TimeService/Now", "--h2c"}, "--h2c does not apply"},
		{"unknown method", []string{"--grpc", "--call", "hotpath.v1.TimeService/Later"}, "no method Later"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := pflag.NewFlagSet("bench", pflag.ContinueOnError)
			f.Bool("h2c", false, "")
			g := addGRPCBenchFlags(f)
			if err := f.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			c := loadgen.Config{URL: url, Streams: 2}
			err := g.apply(context.Background(), &c, func(n string) bool { return f.Changed(n) })
			if tc.want != "" {
				if !errors.Is(err, loadgen.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want ErrConfig with %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.enabled && (c.Transport == nil || c.Transport.Name() != "grpc") {
				t.Errorf("transport = %v, want grpc", c.Transport)
			}
			if !g.enabled && c.Transport != nil {
				t.Errorf("transport set without --grpc")
			}
		})
	}
}
