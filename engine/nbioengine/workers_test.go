package nbioengine

import (
	"sync"
	"testing"
	"time"
)

// TestWorkers checks the executor's contract: a blocked task never stalls
// another, a worker is reused once idle, idle workers can be retired, a
// panicking task does not end the process, and close waits for the workers.
func TestWorkers(t *testing.T) {
	p := newWorkers()
	release := make(chan struct{})
	var started sync.WaitGroup
	const blocked = 3
	started.Add(blocked)
	for range blocked {
		p.Go(func() {
			started.Done()
			<-release
		})
	}
	started.Wait() // all three run at once: none waited for another

	ran := make(chan struct{})
	p.Go(func() { close(ran) }) // a fourth runs while the three block
	<-ran
	close(release)

	// Once the four are idle, each can be retired exactly once.
	deadline := time.Now().Add(10 * time.Second)
	retired := 0
	for retired < blocked+1 && time.Now().Before(deadline) {
		retired += p.retireIdle()
		time.Sleep(time.Millisecond)
	}
	if retired != blocked+1 {
		t.Fatalf("retired %d idle workers; want %d", retired, blocked+1)
	}
	if n := p.retireIdle(); n != 0 {
		t.Fatalf("retired %d more; want 0 after all were retired", n)
	}

	// A panicking task is contained; its worker serves the next task.
	p.Go(func() { panic("task panic") })
	done := make(chan struct{})
	p.Go(func() { close(done) })
	<-done

	if !p.close(10 * time.Second) {
		t.Fatal("close: workers did not end")
	}
}
