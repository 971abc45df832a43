package hostile

import (
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The connection-cap case: conncapTotal connects against serve capped at
// conncapMax. First conncapOver open at once, more than the cap (the rest
// wait in the accept queue); then all but conncapHeld of them close, and
// the others connect in batches of conncapBatch, each batch closed (with
// an RST) as soon as it is open. Why fewer held than the cap in the second
// phase: with the cap full, serve accepts nothing, and the kernel keeps
// even reset connections in the accept queue until they are accepted, so
// the queue (somaxconn) fills and connects time out, as documented for a
// full cap.
const (
	conncapTotal  = 20000
	conncapBatch  = 200
	conncapMax    = 1000
	conncapOver   = 1200
	conncapHeld   = 800
	conncapRSSMax = 200 << 20
)

// TestConnectionCap: 20,000 connects against the default serve (gRPC on
// the shared port) capped at 1,000: it stays up, holds no more descriptors
// than the cap allows, its RSS stays under 200 MB, and it answers GET /time
// once the held connections go.
func TestConnectionCap(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	// Go raised the soft limit to the hard one at start; below this the
	// test itself would run out.
	if need := uint64(conncapOver + conncapBatch + 100); uint64(rl.Cur) < need {
		t.Fatalf("this test needs RLIMIT_NOFILE >= %d, has %d (raise ulimit -n)", need, rl.Cur)
	}
	p := startServe(t, nil, "--max-connections", strconv.Itoa(conncapMax))
	base := p.rss(t)
	held, release, err := dialMany(t, p.addr, conncapOver)
	if err != nil {
		p.alive(t)
		t.Fatal(err)
	}
	peakRSS, peakFDs := base, 0
	sample := func() {
		p.alive(t)
		peakRSS, peakFDs = max(peakRSS, p.rss(t)), max(peakFDs, p.fds(t))
	}
	// Over the cap: serve must stop at it. Wait until it has taken what
	// the cap allows.
	for deadline := time.Now().Add(10 * time.Second); peakFDs < conncapMax && time.Now().Before(deadline); {
		sample()
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // time to take more, were it to
	sample()
	for _, c := range held[conncapHeld:] {
		c.Close()
	}
	for done := conncapOver; done < conncapTotal; done += conncapBatch {
		_, closeBatch, err := dialMany(t, p.addr, conncapBatch)
		if err != nil {
			p.alive(t)
			t.Fatalf("after %d connects: %v", done, err)
		}
		closeBatch()
		sample()
	}
	time.Sleep(200 * time.Millisecond) // let serve take the last ones from the queue
	sample()
	release()
	p.answersWithin(t, 10*time.Second)
	sample()
	p.noPanic(t)
	t.Logf("%d connects (%d, then %d held): RSS %d MB at start, %d MB at most; at most %d descriptors under a cap of %d",
		conncapTotal, conncapOver, conncapHeld, base>>20, peakRSS>>20, peakFDs, conncapMax)
	if peakRSS >= conncapRSSMax {
		t.Errorf("RSS reached %d MB, want under %d MB", peakRSS>>20, conncapRSSMax>>20)
	}
	// The cap plus listeners, the runtime's poller and a few in the
	// middle of being closed.
	if peakFDs < conncapMax {
		t.Errorf("serve held at most %d descriptors under %d connections: the cap of %d was never reached", peakFDs, conncapOver, conncapMax)
	}
	if limit := conncapMax + 64; peakFDs > limit {
		t.Errorf("serve held %d descriptors under a cap of %d, want at most %d", peakFDs, conncapMax, limit)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v; output:\n%s", err, p.stderr.String())
	}
}
