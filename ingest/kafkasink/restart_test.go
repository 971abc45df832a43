package kafkasink

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hotpath-dev/hotpath/ingest"
)

// freePorts returns n ports that were free a moment ago on 127.0.0.1.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		defer ln.Close()
	}
	return ports
}

func startCluster(t *testing.T, dir string, ports []int) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(len(ports)), kfake.Ports(ports...),
		kfake.SeedTopics(1, topic), kfake.DataDir(dir), kfake.SyncWrites())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The cluster really stops (its listeners close) and starts again on the
// same ports and data: Append fails within a bound while it is down and the
// same sink works again once it is back; acknowledged events survive.
func TestBrokerRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ports := freePorts(t, 1)
	c := startCluster(t, dir, ports)
	seeds := []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))}
	ctx, cancel := context.WithTimeout(context.Background(), 4*bound)
	defer cancel()
	s, err := New(ctx, seeds, topic, WithDeliveryTimeout(time.Second))
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	defer s.Close()
	want := map[ingest.Position]string{}
	appendOK(t, s, events("before", 4), want)

	c.Close()
	start := time.Now()
	if _, err := s.Append(ctx, events("down", 2)); err == nil {
		t.Fatal("Append succeeded with the cluster stopped")
	}
	t.Logf("Append failed after %v with the cluster stopped", time.Since(start))
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping succeeded with the cluster stopped")
	}

	c = startCluster(t, dir, ports)
	defer c.Close()
	deadline := time.Now().Add(2 * bound)
	for {
		pos, err := s.Append(ctx, events("after", 2))
		if err == nil {
			for i, p := range pos {
				want[p] = fmt.Sprintf("after-%d", i)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful Append within %v of the restart: %v", 2*bound, err)
		}
	}
	got := readAll(t, s, 0)
	for p, v := range want {
		if got[p] != v {
			t.Errorf("after the restart %+v = %q, want %q", p, got[p], v)
		}
	}
}
