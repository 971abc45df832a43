package policy

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// deadlineQueue fires the timeouts of one Timeout middleware. All its
// requests have the same duration, so arrival order is deadline order: FIFO
// lists (plus one goroutine that sleeps until the oldest deadline) replace a
// runtime timer per request. Per request that is two short critical sections
// instead of a timer Reset and Stop, which each take the runtime's timer lock
// and can wake the network poller when the timer becomes the earliest.
//
// The lists are sharded so that requests on different Ps rarely share a lock:
// a request's shard follows the address of its pooled timeoutWriter, and
// sync.Pool hands each P its own writers.
//
// The goroutine wakes at the oldest deadline or after linger (25ms, or d if
// shorter), whichever is first, so it never checks a request later than its
// deadline, and costs at most 40 wake-ups a second. It runs only while
// requests come: after it has seen every shard empty twice in a row it exits
// (within 2×linger of the last request), and the next request starts a new
// one.
type deadlineQueue struct {
	shards  []queueShard
	running atomic.Bool
	linger  time.Duration
}

type queueShard struct {
	mu   sync.Mutex
	root qnode // sentinel of a circular list, oldest first
	_    [64]byte
}

// qnode is a request's place in the queue; it lives in the timeoutWriter.
type qnode struct {
	prev, next *qnode
	deadline   mono
	tw         *timeoutWriter
	shard      *queueShard
	expired    bool // taken off the queue by the runner to fire
}

func newDeadlineQueue(d time.Duration) *deadlineQueue {
	n := 1 // a power of two, 4 per P: few collisions between Ps' writers
	for n < 4*runtime.GOMAXPROCS(0) && n < 64 {
		n *= 2
	}
	q := &deadlineQueue{linger: min(d, 25*time.Millisecond), shards: make([]queueShard, n)}
	for i := range q.shards {
		r := &q.shards[i].root
		r.next, r.prev = r, r
	}
	return q
}

// add queues n with its deadline set.
func (q *deadlineQueue) add(n *qnode) {
	s := &q.shards[(uintptr(unsafe.Pointer(n))>>7)&uintptr(len(q.shards)-1)]
	s.mu.Lock()
	n.shard, n.expired = s, false
	n.prev, n.next = s.root.prev, &s.root
	s.root.prev.next = n
	s.root.prev = n
	s.mu.Unlock()
	// After the node is visible: a runner that is stopping re-scans the
	// shards after clearing running, so either it sees the node or this
	// CompareAndSwap starts a new runner.
	if !q.running.Load() && q.running.CompareAndSwap(false, true) {
		go q.run()
	}
}

// remove takes n off the queue and reports whether it was still queued; false
// means the runner took it to fire its timeout.
func (q *deadlineQueue) remove(n *qnode) bool {
	s := n.shard
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.expired {
		return false
	}
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
	return true
}

// sweep fires every node whose deadline has passed and returns the earliest
// deadline left, or 0 when every shard is empty.
func (q *deadlineQueue) sweep(now mono) (next mono) {
	for i := range q.shards {
		s := &q.shards[i]
		s.mu.Lock()
		for n := s.root.next; n != &s.root && n.deadline <= now; n = s.root.next {
			n.prev.next, n.next.prev = n.next, n.prev
			n.prev, n.next = nil, nil
			n.expired = true
			// Its own goroutine: writing the 503 may block on a slow
			// client, and must not delay the other timeouts.
			go n.tw.onTimeout()
		}
		if h := s.root.next; h != &s.root && (next == 0 || h.deadline < next) {
			next = h.deadline
		}
		s.mu.Unlock()
	}
	return next
}

func (q *deadlineQueue) run() {
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	idle := false
	for {
		now := monoNow()
		next := q.sweep(now)
		wait := q.linger
		switch {
		case next != 0:
			// Capped so that the goroutine notices soon when the
			// queue empties and can exit.
			idle, wait = false, min(time.Duration(next-now), q.linger)
		case !idle:
			idle = true
		default:
			q.running.Store(false)
			if q.sweep(monoNow()) == 0 || !q.running.CompareAndSwap(false, true) {
				return // empty, or a new runner took over
			}
			idle = false
		}
		if t == nil {
			t = time.NewTimer(wait)
		} else {
			t.Reset(wait)
		}
		<-t.C
	}
}
