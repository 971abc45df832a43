package nbioengine

import (
	"sync"
	"time"
)

// workers is nbio's executor for request handling (nbhttp.Config.
// ServerExecutor): it runs each task on a goroutine of its own, like nbio's
// default taskpool, but hands a task to an idle long-lived worker when there
// is one instead of starting a goroutine per task.
//
// Why not nbio's default: its taskpool starts a fresh goroutine for nearly
// every request, and a fresh goroutine's small stack must grow (and be
// copied) to hold the net/http middleware chain: runtime.newstack and
// copystack were about 7 % of the nbio engine's CPU under load. A worker
// keeps its grown stack from one request to the next. As with the default,
// a task never waits for a busy worker: when none is idle a new one starts,
// so a handler that blocks never stalls another connection.
//
// Idle workers are retired every retireInterval (all of those idle at that
// moment), so a burst of slow requests does not leave its goroutines and
// their stacks behind.
type workers struct {
	tasks chan func() // unbuffered: a send succeeds only if a worker is idle
	stop  chan struct{}
	wg    sync.WaitGroup
}

// retireInterval is how often idle workers are retired.
const retireInterval = 10 * time.Second

func newWorkers() *workers {
	p := &workers{tasks: make(chan func()), stop: make(chan struct{})}
	p.wg.Add(1)
	go p.retire()
	return p
}

// Go runs f on an idle worker, or on a new one. It never blocks.
func (p *workers) Go(f func()) {
	select {
	case p.tasks <- f:
	default:
		p.wg.Add(1)
		go p.work(f)
	}
}

// work runs f, then further tasks, until it is retired (a nil task) or the
// pool stops.
func (p *workers) work(f func()) {
	defer p.wg.Done()
	for f != nil {
		call(f)
		select {
		case f = <-p.tasks:
		case <-p.stop:
			return
		}
	}
}

// call runs f; a panic ends f, not the process. nbio's default executor does
// the same (and logs through nbio's logger, which this engine silences);
// panics in handlers are answered by the chain's Recover before this.
func call(f func()) {
	defer func() { _ = recover() }()
	f()
}

// retire hands a nil task to every idle worker each retireInterval.
func (p *workers) retire() {
	defer p.wg.Done()
	tick := time.NewTicker(retireInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.retireIdle()
		}
	}
}

// retireIdle ends the workers idle now; it returns how many.
func (p *workers) retireIdle() int {
	n := 0
	for {
		select {
		case p.tasks <- nil:
			n++
		default:
			return n
		}
	}
}

// close stops idle workers at once and busy ones when their task returns;
// it waits for them up to wait and reports whether all ended.
func (p *workers) close(wait time.Duration) bool {
	close(p.stop)
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
