package policy

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDeadlineQueueConcurrent runs many overlapping requests through one
// Timeout: those that wait for their context get 503, those that answer at
// once get 200, whatever the interleaving, and the queue ends empty with its
// goroutine gone.
func TestDeadlineQueueConcurrent(t *testing.T) {
	t.Parallel()
	h := Timeout(100 * time.Millisecond)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { // long enough that a fast request never misses it, even on a loaded machine
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	var wg sync.WaitGroup
	for i := range 64 {
		path := "/fast"
		if i%2 == 0 {
			path = "/slow"
		}
		wg.Go(func() {
			rec := serve(h, httptest.NewRequest("GET", path, nil))
			want := http.StatusNoContent
			if path == "/slow" {
				want = http.StatusServiceUnavailable
			}
			if rec.Code != want {
				t.Errorf("%s: %d, want %d", path, rec.Code, want)
			}
		})
	}
	wg.Wait()
}

func TestDeadlineQueueRunnerExits(t *testing.T) {
	t.Parallel()
	q := newDeadlineQueue(time.Hour)
	if q.linger != 25*time.Millisecond {
		t.Fatalf("linger %v, want 25ms for a long timeout", q.linger)
	}
	n := &qnode{deadline: monoNow() + mono(time.Hour)}
	q.add(n)
	if !q.remove(n) {
		t.Fatal("remove before the deadline reported the node as fired")
	}
	for q.running.Load() { // the runner must stop by itself; the test timeout bounds this wait
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if q.sweep(monoNow()) != 0 {
		t.Error("queue not empty")
	}
}

func TestDeadlineQueueExpiry(t *testing.T) {
	t.Parallel()
	q := newDeadlineQueue(time.Millisecond)
	fired := make(chan *timeoutWriter, 2)
	mk := func() *qnode {
		tw := &timeoutWriter{h: make(http.Header)}
		tw.node.tw = tw
		tw.st = newState(httptest.NewRequest("GET", "/", nil))
		tw.w = &notifyWriter{ResponseRecorder: httptest.NewRecorder(), fired: fired, tw: tw}
		return &tw.node
	}
	a, b := mk(), mk()
	a.deadline = monoNow() + mono(time.Millisecond)
	b.deadline = a.deadline + mono(time.Millisecond)
	q.add(a)
	q.add(b)
	got := map[*timeoutWriter]bool{}
	for range 2 {
		tw := <-fired
		if now := monoNow(); now < tw.node.deadline {
			t.Errorf("fired %v before its deadline", time.Duration(tw.node.deadline-now))
		}
		got[tw] = true
	}
	if !got[a.tw] || !got[b.tw] {
		t.Error("a deadline did not fire")
	}
	if q.remove(a) || q.remove(b) {
		t.Error("remove after firing reported the node as still queued")
	}
}

// notifyWriter reports the timeoutWriter whose 503 it received.
type notifyWriter struct {
	*httptest.ResponseRecorder
	fired chan *timeoutWriter
	tw    *timeoutWriter
	once  sync.Once
}

func (n *notifyWriter) WriteHeader(code int) {
	n.ResponseRecorder.WriteHeader(code)
	n.once.Do(func() { n.fired <- n.tw })
}

// TestDeadlineQueueStartStopRace adds and removes nodes from several
// goroutines while the runner keeps stopping (1ms linger) and restarting, and
// lets a share of them expire: every expiring node must fire exactly once and
// the runner must end stopped, under -race.
func TestDeadlineQueueStartStopRace(t *testing.T) {
	t.Parallel()
	q := newDeadlineQueue(time.Millisecond)
	var fired sync.Map
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				tw := &timeoutWriter{h: make(http.Header)}
				tw.node.tw = tw
				tw.st = newState(httptest.NewRequest("GET", "/", nil))
				rec := &countWriter{ResponseRecorder: httptest.NewRecorder(), fired: &fired, id: g*1000 + i}
				tw.w = rec
				expire := i%3 == 0
				tw.node.deadline = monoNow() + mono(time.Hour)
				if expire {
					tw.node.deadline = monoNow() // already due
				}
				q.add(&tw.node)
				if i%50 == 0 {
					time.Sleep(3 * time.Millisecond) // let the runner go idle and stop
				}
				if !expire && !q.remove(&tw.node) {
					t.Errorf("node %d fired an hour early", g*1000+i)
				}
			}
		})
	}
	wg.Wait()
	for q.running.Load() || q.sweep(monoNow()) != 0 { // bounded by the test timeout
		time.Sleep(time.Millisecond)
	}
	count := func() (n int) {
		fired.Range(func(any, any) bool { n++; return true })
		return n
	}
	for count() < 4*100 { // onTimeout goroutines may still be finishing
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // a second firing would show up by now
	fired.Range(func(k, v any) bool {
		if c := v.(*atomic.Int32).Load(); c != 1 {
			t.Errorf("node %v fired %d times", k, c)
		}
		return true
	})
	if n := count(); n != 4*100 {
		t.Errorf("%d nodes fired, want %d", n, 4*100)
	}
}

// countWriter counts the 503s a node's writer receives.
type countWriter struct {
	*httptest.ResponseRecorder
	fired *sync.Map
	id    int
}

func (c *countWriter) WriteHeader(code int) {
	v, _ := c.fired.LoadOrStore(c.id, new(atomic.Int32))
	v.(*atomic.Int32).Add(1)
	c.ResponseRecorder.WriteHeader(code)
}
