package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// bound is the generous limit for anything that should happen in
// milliseconds on a quiet machine.
const bound = 3 * time.Second

func newBatcher(t *testing.T, s Sink, cfg Config, opts ...Option) *Batcher {
	t.Helper()
	b, err := New(s, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// eventually polls cond until it holds or bound passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", bound, what)
		}
		time.Sleep(time.Millisecond)
	}
}

type result struct {
	i   int
	pos Position
	err error
}

// submitAll submits n events ("e<i>") concurrently and returns the channel
// their results arrive on.
func submitAll(ctx context.Context, b *Batcher, n int) <-chan result {
	out := make(chan result, n)
	for i := range n {
		go func() {
			pos, err := b.Submit(ctx, fmt.Appendf(nil, "e%d", i))
			out <- result{i, pos, err}
		}()
	}
	return out
}

func collect(t *testing.T, ch <-chan result, n int) []result {
	t.Helper()
	rs := make([]result, 0, n)
	timeout := time.After(bound)
	for range n {
		select {
		case r := <-ch:
			rs = append(rs, r)
		case <-timeout:
			t.Fatalf("%d of %d Submits answered within %v", len(rs), n, bound)
		}
	}
	return rs
}

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"zero value is the defaults", Config{}, ""},
		{"batch of one is allowed", Config{BatchSize: 1, Queue: 1}, ""},
		{"negative batch size", Config{BatchSize: -1}, "BatchSize"},
		{"negative wait", Config{BatchWait: -time.Millisecond}, "BatchWait"},
		{"negative queue", Config{Queue: -1}, "Queue"},
		{"negative event size", Config{MaxEventBytes: -1}, "MaxEventBytes"},
		{"negative unready", Config{UnreadyAfter: -time.Second}, "UnreadyAfter"},
		{"batch larger than the queue could never fill", Config{BatchSize: 32, Queue: 16}, "larger than Queue"},
		{"default batch larger than a tiny queue", Config{Queue: 4}, "larger than Queue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := New(&memSink{}, tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				_ = b.Close(context.Background())
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%+v) = %v, want ErrInvalidConfig naming %s", tt.cfg, err, tt.want)
			}
		})
	}
	b := newBatcher(t, &memSink{}, Config{})
	want := Config{BatchSize: 16, BatchWait: 5 * time.Millisecond, Queue: 4096, MaxEventBytes: 64 << 10, UnreadyAfter: 5 * time.Second}
	if got := b.Config(); got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	if _, err := New(nil, Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New(nil sink) = %v, want ErrInvalidConfig", err)
	}
}

// A full batch is written at once: with a BatchWait of an hour, 16 events
// can only come back through the size trigger.
func TestSizeTrigger(t *testing.T) {
	t.Parallel()
	s := &memSink{}
	b := newBatcher(t, s, Config{BatchSize: 16, BatchWait: time.Hour})
	rs := collect(t, submitAll(context.Background(), b, 16), 16)
	for _, r := range rs {
		if r.err != nil {
			t.Fatalf("event %d: %v", r.i, r.err)
		}
	}
	if sizes, _, _ := s.snapshot(); len(sizes) != 1 || sizes[0] != 16 {
		t.Fatalf("Append sizes = %v, want one Append of 16", sizes)
	}
}

// A partial batch is written once its oldest event has waited BatchWait, as
// one Append; never before (the lower bound is exact, the upper generous).
func TestTimeTrigger(t *testing.T) {
	t.Parallel()
	s := &memSink{}
	const wait = 400 * time.Millisecond // long enough for 3 goroutines to enqueue on a loaded machine
	b := newBatcher(t, s, Config{BatchSize: 16, BatchWait: wait})
	start := time.Now()
	rs := collect(t, submitAll(context.Background(), b, 3), 3)
	elapsed := time.Since(start)
	for _, r := range rs {
		if r.err != nil {
			t.Fatalf("event %d: %v", r.i, r.err)
		}
	}
	if sizes, _, _ := s.snapshot(); len(sizes) != 1 || sizes[0] != 3 {
		t.Fatalf("Append sizes = %v, want one Append of 3", sizes)
	}
	if elapsed < wait {
		t.Fatalf("answered after %v, before BatchWait %v", elapsed, wait)
	}
}

// Every event comes back with the position of exactly its own bytes.
func TestPositionsMatchEvents(t *testing.T) {
	t.Parallel()
	s := &memSink{}
	b := newBatcher(t, s, Config{BatchSize: 4, BatchWait: time.Millisecond, Queue: 64})
	const n = 64
	rs := collect(t, submitAll(context.Background(), b, n), n)
	_, stored, _ := s.snapshot()
	seen := map[int64]bool{}
	for _, r := range rs {
		if r.err != nil {
			t.Fatalf("event %d: %v", r.i, r.err)
		}
		if seen[r.pos.Offset] {
			t.Fatalf("offset %d given twice", r.pos.Offset)
		}
		seen[r.pos.Offset] = true
		if want := fmt.Sprintf("e%d", r.i); string(stored[r.pos.Offset]) != want {
			t.Fatalf("offset %d holds %q, want %q", r.pos.Offset, stored[r.pos.Offset], want)
		}
	}
}

// Submit never blocks: with the writer stuck in Append and Queue events
// pending, the next one is refused at once.
func TestBackPressure(t *testing.T) {
	t.Parallel()
	s := &memSink{block: make(chan struct{})}
	b := newBatcher(t, s, Config{BatchSize: 4, BatchWait: time.Millisecond, Queue: 8})
	results := submitAll(context.Background(), b, 8)
	eventually(t, "8 events pending", func() bool { return b.Pending() == 8 })
	if _, err := b.Submit(context.Background(), []byte("ninth")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("9th Submit = %v, want ErrQueueFull", err)
	}
	if got := testutil.ToFloat64(b.m.queueFull); got != 1 {
		t.Errorf("queue_full = %v, want 1", got)
	}
	close(s.block)
	for _, r := range collect(t, results, 8) {
		if r.err != nil {
			t.Errorf("event %d: %v", r.i, r.err)
		}
	}
	if _, stored, _ := s.snapshot(); len(stored) != 8 {
		t.Errorf("stored %d events, want 8", len(stored))
	}
}

// A failing sink: its batch gets ErrSinkUnavailable wrapping the cause,
// Ready turns false after UnreadyAfter and true again on the next success.
func TestSinkFailure(t *testing.T) {
	t.Parallel()
	s := &memSink{err: errDiskFull}
	b := newBatcher(t, s, Config{BatchSize: 1, UnreadyAfter: 50 * time.Millisecond})
	_, err := b.Submit(context.Background(), []byte("x"))
	if !errors.Is(err, ErrSinkUnavailable) || !errors.Is(err, errDiskFull) {
		t.Fatalf("Submit on a failing sink = %v, want ErrSinkUnavailable wrapping %v", err, errDiskFull)
	}
	eventually(t, "Ready false after UnreadyAfter", func() bool { return !b.Ready() })
	s.setErr(nil)
	var pos Position
	eventually(t, "a Submit succeeds after the sink recovers", func() bool {
		pos, err = b.Submit(context.Background(), []byte("y"))
		return err == nil
	})
	if !b.Ready() {
		t.Fatal("Ready false after a successful Append")
	}
	if _, stored, _ := s.snapshot(); len(stored) != 1 || string(stored[pos.Offset]) != "y" {
		t.Fatalf("stored %q, want only the event acknowledged", stored)
	}
}

// While the sink fails, events are answered within BatchWait + back-off and
// the sink is not called for every batch.
func TestBackoffSparesTheSink(t *testing.T) {
	t.Parallel()
	s := &memSink{err: errDiskFull}
	b := newBatcher(t, s, Config{BatchSize: 1, Queue: 1})
	const n = 50
	for range n {
		if _, err := b.Submit(context.Background(), []byte("x")); !errors.Is(err, ErrSinkUnavailable) {
			t.Fatalf("Submit = %v, want ErrSinkUnavailable", err)
		}
	}
	if _, _, calls := s.snapshot(); calls >= n {
		t.Fatalf("sink called %d times for %d back-to-back events, want fewer (back-off)", calls, n)
	}
	if got := testutil.ToFloat64(b.m.sinkError); got != n {
		t.Errorf("sink_error = %v, want %d", got, n)
	}
}

// A sink that hangs is not ready either: Ready is false once one Append
// has run for UnreadyAfter, and true again when it returns successfully.
func TestReadyFalseWhileAppendHangs(t *testing.T) {
	t.Parallel()
	s := &memSink{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	b := newBatcher(t, s, Config{BatchSize: 1, UnreadyAfter: 50 * time.Millisecond})
	results := submitAll(context.Background(), b, 1)
	<-s.entered
	eventually(t, "Ready false while Append hangs", func() bool { return !b.Ready() })
	close(s.block)
	if r := collect(t, results, 1)[0]; r.err != nil {
		t.Fatal(r.err)
	}
	if !b.Ready() {
		t.Fatal("Ready false after the Append returned successfully")
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n    int
		want time.Duration
	}{
		{1, 10 * time.Millisecond},
		{2, 20 * time.Millisecond},
		{4, 80 * time.Millisecond},
		{7, 640 * time.Millisecond},
		{8, time.Second}, // capped
		{1000, time.Second},
	}
	for _, tt := range tests {
		if got := backoff(tt.n); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

// With no traffic at all, a sink that can be pinged brings Ready back by
// itself (readiness may have taken all traffic away).
func TestReadyRecoversByPing(t *testing.T) {
	t.Parallel()
	s := &pingSink{memSink{err: errDiskFull}}
	s.pingErr = errDiskFull
	b := newBatcher(t, s, Config{BatchSize: 1, UnreadyAfter: 50 * time.Millisecond})
	if _, err := b.Submit(context.Background(), []byte("x")); !errors.Is(err, ErrSinkUnavailable) {
		t.Fatalf("Submit = %v, want ErrSinkUnavailable", err)
	}
	eventually(t, "Ready false", func() bool { return !b.Ready() })
	s.mu.Lock()
	s.pingErr, s.err = nil, nil
	s.mu.Unlock()
	eventually(t, "Ready true again without any Submit", b.Ready)
	if _, _, calls := s.snapshot(); calls != 1 {
		t.Errorf("Append called %d times, want 1 (recovery came from Ping)", calls)
	}
}

// Close writes everything queued, then refuses new events.
func TestCloseFlushes(t *testing.T) {
	t.Parallel()
	s := &memSink{}
	b, err := New(s, Config{BatchSize: 16, BatchWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	results := submitAll(context.Background(), b, 5)
	eventually(t, "5 pending", func() bool { return b.Pending() == 5 })
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close = %v", err)
	}
	for _, r := range collect(t, results, 5) {
		if r.err != nil {
			t.Errorf("event %d: %v", r.i, r.err)
		}
	}
	if sizes, _, _ := s.snapshot(); len(sizes) != 1 || sizes[0] != 5 {
		t.Errorf("Append sizes = %v, want one of 5", sizes)
	}
	if _, err := b.Submit(context.Background(), []byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// Close whose ctx ends: the write in progress is cancelled (its events get
// the sink's error), the events still queued get ErrClosed; none is
// reported stored.
func TestCloseExpired(t *testing.T) {
	t.Parallel()
	s := &memSink{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	// BatchWait of an hour: the stuck batch is exactly the first 2 events.
	b, err := New(s, Config{BatchSize: 2, BatchWait: time.Hour, Queue: 8})
	if err != nil {
		t.Fatal(err)
	}
	results := submitAll(context.Background(), b, 6)
	<-s.entered // the writer is stuck in the first Append
	eventually(t, "6 pending", func() bool { return b.Pending() == 6 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close(cancelled) = %v, want context.Canceled", err)
	}
	var sinkErr, closed int
	for _, r := range collect(t, results, 6) {
		switch {
		case errors.Is(r.err, ErrSinkUnavailable) && errors.Is(r.err, context.Canceled):
			sinkErr++
		case errors.Is(r.err, ErrClosed):
			closed++
		default:
			t.Errorf("event %d: %v, want not stored", r.i, r.err)
		}
	}
	if sinkErr != 2 || closed != 4 {
		t.Errorf("%d cancelled in the sink and %d closed, want 2 and 4", sinkErr, closed)
	}
	if got := testutil.ToFloat64(b.m.closed); got != 4 {
		t.Errorf("closed = %v, want 4", got)
	}
}

// A Submit whose ctx ends before its batch is written withdraws the event:
// it is never stored.
func TestSubmitWithdrawn(t *testing.T) {
	t.Parallel()
	s := &memSink{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	b := newBatcher(t, s, Config{BatchSize: 1, Queue: 4})
	first := submitAll(context.Background(), b, 1)
	<-s.entered
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := b.Submit(ctx, []byte("withdrawn")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit = %v, want DeadlineExceeded", err)
	}
	s.mu.Lock()
	block := s.block
	s.block = nil // later Appends do not block
	s.mu.Unlock()
	close(block)
	if r := collect(t, first, 1)[0]; r.err != nil {
		t.Fatal(r.err)
	}
	if _, err := b.Submit(context.Background(), []byte("after")); err != nil {
		t.Fatal(err)
	}
	_, stored, _ := s.snapshot()
	for _, e := range stored {
		if bytes.Equal(e, []byte("withdrawn")) {
			t.Fatalf("withdrawn event was stored: %q", stored)
		}
	}
	if got := testutil.ToFloat64(b.m.withdrawn); got != 1 {
		t.Errorf("withdrawn = %v, want 1", got)
	}
	if b.Pending() != 0 {
		t.Errorf("Pending = %d after all answered", b.Pending())
	}
}

func TestSubmitRefusals(t *testing.T) {
	t.Parallel()
	b := newBatcher(t, &memSink{}, Config{MaxEventBytes: 4})
	tests := []struct {
		name  string
		event []byte
		want  error
	}{
		{"empty", nil, ErrEmpty},
		{"zero length", []byte{}, ErrEmpty},
		{"one byte over", []byte("12345"), ErrTooLarge},
	}
	for _, tt := range tests {
		if _, err := b.Submit(context.Background(), tt.event); !errors.Is(err, tt.want) {
			t.Errorf("%s: Submit = %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := b.Submit(context.Background(), []byte("1234")); err != nil {
		t.Errorf("exactly MaxEventBytes: %v", err)
	}
}

// Many goroutines submit at once (run with -race): every event is stored
// exactly as sent, at the position it was told.
func TestConcurrentSubmits(t *testing.T) {
	t.Parallel()
	s := &memSink{}
	b := newBatcher(t, s, Config{BatchSize: 16, BatchWait: time.Millisecond, Queue: 256})
	const workers, each = 8, 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int64]string{}
	for w := range workers {
		wg.Go(func() {
			buf := make([]byte, 0, 64) // reused: Submit must not keep it
			for i := range each {
				buf = fmt.Appendf(buf[:0], "w%d-%d-%s", w, i, strings.Repeat("x", i%40))
				pos, err := b.Submit(context.Background(), buf)
				if errors.Is(err, ErrQueueFull) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[pos.Offset] = string(buf)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	_, stored, _ := s.snapshot()
	if len(got) != len(stored) {
		t.Fatalf("%d acknowledged, %d stored", len(got), len(stored))
	}
	for off, want := range got {
		if string(stored[off]) != want {
			t.Fatalf("offset %d = %q, want %q", off, stored[off], want)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	s := &memSink{}
	b := newBatcher(t, s, Config{BatchSize: 4, BatchWait: time.Hour, MaxEventBytes: 8}, WithRegisterer(reg))
	collect(t, submitAll(context.Background(), b, 8), 8) // two full batches
	_, _ = b.Submit(context.Background(), nil)
	_, _ = b.Submit(context.Background(), []byte("123456789"))
	s.setErr(errDiskFull)
	collect(t, submitAll(context.Background(), b, 4), 4)

	// Per result, so a result added later does not break the test.
	for result, want := range map[string]float64{
		ResultStored: 8, ResultSinkError: 4, ResultEmpty: 1, ResultTooLarge: 1,
		ResultQueueFull: 0, ResultClosed: 0, ResultWithdrawn: 0,
	} {
		if got := testutil.ToFloat64(b.m.events.WithLabelValues(result)); got != want {
			t.Errorf("%s{result=%q} = %v, want %v", MetricEventsTotal, result, got, want)
		}
	}
	want := `
# HELP hotpath_ingest_queue_depth Events accepted and not yet answered (queued, batching or being written).
# TYPE hotpath_ingest_queue_depth gauge
hotpath_ingest_queue_depth 0
# HELP hotpath_ingest_sink_failures_total Failed sink appends and pings.
# TYPE hotpath_ingest_sink_failures_total counter
hotpath_ingest_sink_failures_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), MetricQueueDepth, MetricSinkFailures); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, MetricEventsTotal); n < 7 {
		t.Errorf("%s has %d series registered, want every result's", MetricEventsTotal, n)
	}
	// Histograms: three Appends (two stored, one failed) of 4 events.
	if n := testutil.CollectAndCount(reg, MetricBatchSize, MetricBatchWait, MetricSinkAppend); n != 3 {
		t.Errorf("%d histogram series, want 3", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case MetricBatchSize, MetricBatchWait, MetricSinkAppend:
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 3 {
				t.Errorf("%s count = %d, want 3", mf.GetName(), h.GetSampleCount())
			}
			if mf.GetName() == MetricBatchSize && h.GetSampleSum() != 12 {
				t.Errorf("%s sum = %v, want 12", mf.GetName(), h.GetSampleSum())
			}
		}
	}
	// Registering twice is an error, not a panic.
	if _, err := New(s, Config{}, WithRegisterer(reg)); err == nil {
		t.Error("second registration succeeded")
	}
}

func TestSizeBuckets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		size int
		want []float64
	}{
		{1, []float64{1}},
		{16, []float64{1, 2, 4, 8, 16}},
		{20, []float64{1, 2, 4, 8, 16, 20}},
	}
	for _, tt := range tests {
		if got := sizeBuckets(tt.size); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("sizeBuckets(%d) = %v, want %v", tt.size, got, tt.want)
		}
	}
}
