package hostile

import (
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// garbageDuration bounds the random-bytes attack per engine. The issue asks
// for 20 s; CI runs 5 s (the engines run side by side, so the package stays
// short) and HOTPATH_HOSTILE_LONG=1 runs the 20 s by hand.
const (
	garbageDuration     = 5 * time.Second
	garbageLongDuration = 20 * time.Second
	garbageWorkers      = 8
	garbageSeed         = 20261207
)

// garbagePrefixes are what a random write may start with, so that the bytes
// after them reach the parsers behind the first decision: nothing (the
// HTTP/1 parser or portmux's sniffing), a request line (header parsing),
// the HTTP/2 preface (the HTTP/2 framer, gRPC's on a shared port), a TLS
// record header.
var garbagePrefixes = [][]byte{
	nil,
	[]byte("GET /time HTTP/1.1\r\n"),
	[]byte("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"),
	[]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
	{0x16, 0x03, 0x01, 0x02, 0x00},
}

// TestRandomBytes: workers write random bytes (after a random prefix) to
// fresh connections on the public port for garbageDuration. Every engine
// must stay up, never mention a panic, and still answer GET /time.
func TestRandomBytes(t *testing.T) {
	d := garbageDuration
	if os.Getenv("HOTPATH_HOSTILE_LONG") == "1" {
		d = garbageLongDuration
	}
	t.Logf("seed %d, %v per engine, %d workers", garbageSeed, d, garbageWorkers)
	for i, tc := range []struct {
		name string
		args []string
	}{
		{"fasthttp shared port", []string{"--engine", "fasthttp"}},
		{"nethttp shared port", nil},
		{"nethttp own port", []string{"--grpc=false"}},
		{"nbio", []string{"--engine", "nbio"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startServe(t, nil, tc.args...)
			var conns, bytes int64
			var mu sync.Mutex
			var wg sync.WaitGroup
			stop := time.Now().Add(d)
			for w := range garbageWorkers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(garbageSeed, uint64(i*garbageWorkers+w)))
					n, b := garbageWorker(p.addr, rng, stop)
					mu.Lock()
					conns += n
					bytes += b
					mu.Unlock()
				}()
			}
			wg.Wait()
			p.alive(t)
			p.answersWithin(t, 5*time.Second)
			p.noPanic(t)
			t.Logf("%d connections, %d random bytes", conns, bytes)
			if conns < garbageWorkers {
				t.Fatalf("only %d connections made: the attack did not run", conns)
			}
			if err := p.stop(t); err != nil {
				t.Fatalf("exit after SIGTERM: %v; output:\n%s", err, p.stderr.String())
			}
		})
	}
}

// garbageWorker connects, writes one to three random chunks, then either
// resets the connection at once or reads what the server answers (300 ms at
// most) and closes; until stop. It returns the connections made and the
// bytes written.
func garbageWorker(addr string, rng *rand.Rand, stop time.Time) (conns, written int64) {
	buf := make([]byte, 8192)
	d := net.Dialer{Timeout: 2 * time.Second}
	for time.Now().Before(stop) {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			time.Sleep(10 * time.Millisecond) // accept queue full or port busy: the server decides
			continue
		}
		conns++
		tc := c.(*net.TCPConn)
		_ = tc.SetLinger(0) // RST: no TIME_WAIT on the client's ports
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if pre := garbagePrefixes[rng.IntN(len(garbagePrefixes))]; pre != nil {
			if n, err := c.Write(pre); err == nil {
				written += int64(n)
			}
		}
		for range 1 + rng.IntN(3) {
			chunk := buf[:1+rng.IntN(len(buf))]
			for j := range chunk {
				chunk[j] = byte(rng.Uint32())
			}
			n, err := c.Write(chunk)
			written += int64(n)
			if err != nil {
				break
			}
		}
		if rng.IntN(2) == 0 {
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			for {
				if _, err := c.Read(buf); err != nil {
					break
				}
			}
		}
		c.Close()
	}
	return conns, written
}
