package middleware

import (
	"sync"
	"time"
)

// deadlineQueue fires the timeouts of one Timeout middleware. All its
// requests have the same duration, so arrival order is deadline order: a FIFO
// list (plus one goroutine that sleeps until the oldest deadline) replaces a
// runtime timer per request. Per request that is two short critical sections
// instead of a timer Reset and Stop, which each take the runtime's timer lock
// and can wake the network poller when the timer becomes the earliest.
//
// The goroutine wakes at the oldest deadline or after linger (25ms, or d if
// shorter), whichever is first, so it never checks a request later than its
// deadline, and costs at most 40 wake-ups a second. It runs only while
// requests come: after it has seen the list empty twice in a row it exits
// (within 2×linger of the last request), and the next request starts a new
// one.
type deadlineQueue struct {
	mu      sync.Mutex
	root    qnode // sentinel of a circular list, oldest first
	running bool
	linger  time.Duration
}

// qnode is a request's place in the queue; it lives in the timeoutWriter.
type qnode struct {
	prev, next *qnode
	deadline   mono
	tw         *timeoutWriter
	expired    bool // taken off the queue by the runner to fire
}

func newDeadlineQueue(d time.Duration) *deadlineQueue {
	q := &deadlineQueue{linger: min(d, 25*time.Millisecond)}
	q.root.next, q.root.prev = &q.root, &q.root
	return q
}

// add queues n with its deadline set.
func (q *deadlineQueue) add(n *qnode) {
	q.mu.Lock()
	n.expired = false
	n.prev, n.next = q.root.prev, &q.root
	q.root.prev.next = n
	q.root.prev = n
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		go q.run()
	}
}

// remove takes n off the queue and reports whether it was still queued; false
// means the runner took it to fire its timeout.
func (q *deadlineQueue) remove(n *qnode) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n.expired {
		return false
	}
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
	return true
}

func (q *deadlineQueue) run() {
	var t *time.Timer
	idle := false
	for {
		now := monoNow()
		q.mu.Lock()
		for n := q.root.next; n != &q.root && n.deadline <= now; n = q.root.next {
			n.prev.next, n.next.prev = n.next, n.prev
			n.prev, n.next = nil, nil
			n.expired = true
			// Its own goroutine: writing the 503 may block on a slow
			// client, and must not delay the other timeouts.
			go n.tw.onTimeout()
		}
		var wait time.Duration
		if q.root.next == &q.root {
			if idle {
				q.running = false
				q.mu.Unlock()
				if t != nil {
					t.Stop()
				}
				return
			}
			idle, wait = true, q.linger
		} else {
			// Capped so that the goroutine notices soon when the queue
			// empties and can exit.
			idle, wait = false, min(time.Duration(q.root.next.deadline-now), q.linger)
		}
		q.mu.Unlock()
		if t == nil {
			t = time.NewTimer(wait)
		} else {
			t.Reset(wait)
		}
		<-t.C
	}
}
