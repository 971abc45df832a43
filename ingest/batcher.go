package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Errors of Submit. Status maps each to an HTTP status.
var (
	// ErrEmpty: the event has no bytes.
	ErrEmpty = errors.New("ingest: empty event")
	// ErrTooLarge: the event is larger than Config.MaxEventBytes.
	ErrTooLarge = errors.New("ingest: event too large")
	// ErrQueueFull: Config.Queue events are already pending; retry later.
	ErrQueueFull = errors.New("ingest: queue full")
	// ErrSinkUnavailable is wrapped, with the sink's error, when the
	// event's batch failed to be stored, or when it was refused without a
	// try because the sink failed moments ago (see Batcher). The event was
	// not stored.
	ErrSinkUnavailable = errors.New("ingest: sink unavailable")
	// ErrClosed: the batcher was closed before the event was written. The
	// event was not stored.
	ErrClosed = errors.New("ingest: closed")
)

// Pinger is implemented by sinks that can check they are reachable without
// storing anything (kafkasink and filelog do). While its sink is failing and
// no events arrive, a Batcher pings it once per back-off period, so that Ready turns
// true again by itself even when readiness has taken all traffic away.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Partitioner is implemented by sinks whose Positions carry a meaningful
// Partition (Kafka). (*Batcher).AppendAccepted includes the partition in the
// 202 body only for such sinks.
type Partitioner interface {
	Partitioned() bool
}

// Back-off after sink failures: during it, due batches are answered
// ErrSinkUnavailable at once instead of hammering a dead sink. It starts at
// minBackoff and doubles per consecutive failure up to maxBackoff, so a
// client waits at most BatchWait (plus one Append) for its answer and a dead
// sink sees at most about one write per second.
const (
	minBackoff  = 10 * time.Millisecond
	maxBackoff  = time.Second
	pingTimeout = time.Second
)

// backoff returns the pause after n ≥ 1 consecutive failures.
func backoff(n int) time.Duration {
	d := minBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// Batcher groups submitted events into batches and writes each batch to its
// Sink with one Append, from one writer goroutine. A batch is written when
// it holds Config.BatchSize events or when its oldest event has waited
// Config.BatchWait, whichever comes first.
//
// After a failed Append the batcher backs off (10 ms, doubling per
// consecutive failure, at most 1 s): batches due during the back-off are
// answered ErrSinkUnavailable without calling the sink; the first batch due
// after it tries the sink again. Ready reports false once the sink has
// failed continuously for Config.UnreadyAfter, and true again after the next
// successful Append (or Ping, see Pinger). It also reports false while one
// Append has been running for UnreadyAfter (a sink that hangs).
//
// Metrics (registered with WithRegisterer):
//
//	hotpath_ingest_batch_size            histogram  events per Append
//	hotpath_ingest_batch_wait_seconds    histogram  first event queued → Append start
//	hotpath_ingest_sink_append_seconds   histogram  Append latency
//	hotpath_ingest_queue_depth           gauge      events accepted, not yet answered
//	hotpath_ingest_events_total{result}  counter    every submitted event once (Result*)
//	hotpath_ingest_sink_failures_total   counter    failed Appends and Pings
//
// With WithTracerProvider, each Append is also a span linked to the spans
// of the requests whose events it carries (see WithTracerProvider).
//
// All methods are safe for concurrent use.
type Batcher struct {
	sink        Sink
	pinger      Pinger
	partitioned bool
	cfg         Config
	log         *slog.Logger
	m           *metrics
	tr          *batchTracer // nil: no spans (see WithTracerProvider)

	mu      sync.RWMutex // Submit holds it to send; Close to set closed
	closed  bool
	queue   chan *waiter // capacity cfg.Queue; never full when pending ≤ Queue
	pending atomic.Int64 // accepted, not yet answered

	stop        chan struct{} // closed by Close: write what is queued, then exit
	abort       chan struct{} // closed when Close's ctx ends: answer the rest ErrClosed
	abortOnce   sync.Once
	writeCtx    context.Context // for Append and Ping; cancelled on abort
	cancelWrite context.CancelFunc
	done        chan struct{} // closed when the writer has exited

	epoch        time.Time    // monotonic base for failingSince
	failingSince atomic.Int64 // ns since epoch + 1 of the first failure of a streak; 0 = healthy
	busySince    atomic.Int64 // ns since epoch + 1 of the start of the sink call in progress; 0 = none

	// Writer goroutine only.
	failures   int
	retryAt    time.Time
	backoffErr error
	batch      []*waiter
	arena      []byte
	ends       []int
	events     [][]byte
}

const (
	stateQueued uint8 = iota
	stateTaken        // copied into the batch; the writer no longer reads event
	stateAnswered
)

// waiter carries one Submit through the queue. It is pooled: Submit puts it
// back after reading its answer; the writer puts back the ones whose Submit
// left early (gone).
type waiter struct {
	event  []byte
	queued time.Time
	sc     trace.SpanContext // the request's, when tracing is on
	done   chan struct{}     // capacity 1; the writer sends once, unless gone

	mu    sync.Mutex
	state uint8
	gone  bool // Submit returned on ctx; the writer owns the waiter
	pos   Position
	err   error
}

var waiterPool = sync.Pool{New: func() any { return &waiter{done: make(chan struct{}, 1)} }}

func putWaiter(w *waiter) {
	w.event, w.err, w.pos, w.gone, w.state, w.sc = nil, nil, Position{}, false, stateQueued, trace.SpanContext{}
	waiterPool.Put(w)
}

// New starts a Batcher writing to sink. It returns an error wrapping
// ErrInvalidConfig for a bad cfg, or the registerer's error when a metric is
// already registered. The caller owns sink: Close does not close it.
func New(sink Sink, cfg Config, opts ...Option) (*Batcher, error) {
	if sink == nil {
		return nil, fmt.Errorf("%w: nil sink", ErrInvalidConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	b := &Batcher{
		sink:   sink,
		cfg:    cfg,
		log:    o.logger,
		queue:  make(chan *waiter, cfg.Queue),
		stop:   make(chan struct{}),
		abort:  make(chan struct{}),
		done:   make(chan struct{}),
		epoch:  time.Now(),
		batch:  make([]*waiter, 0, cfg.BatchSize),
		ends:   make([]int, 0, cfg.BatchSize),
		events: make([][]byte, cfg.BatchSize),
	}
	b.pinger, _ = sink.(Pinger)
	if o.tp != nil {
		b.tr = newBatchTracer(o.tp, sink, cfg.BatchSize)
	}
	if p, ok := sink.(Partitioner); ok {
		b.partitioned = p.Partitioned()
	}
	b.m, err = newMetrics(o.reg, cfg.BatchSize, func() float64 { return float64(b.pending.Load()) })
	if err != nil {
		return nil, err
	}
	b.writeCtx, b.cancelWrite = context.WithCancel(context.Background())
	go b.run()
	return b, nil
}

// Config returns the configuration in force, defaults filled in.
func (b *Batcher) Config() Config { return b.cfg }

// Partitioned reports whether the sink's Positions carry a partition (see
// Partitioner).
func (b *Batcher) Partitioned() bool { return b.partitioned }

// Submit stores event through the next batch and returns its Position once
// the batch is durable in the sink.
//
// With Config.Format FormatJSON the event must be one JSON value, and what
// is stored is its compacted form (see FormatJSON); MaxEventBytes applies to
// the event as given.
//
// It returns at once with ErrEmpty, ErrTooLarge, ErrInvalidJSON (wrapped,
// with FormatJSON), ErrClosed (after Close began) or ErrQueueFull
// (Config.Queue events pending): Submit never blocks on a full queue. Otherwise it waits for the batch: an error wrapping
// ErrSinkUnavailable and the sink's error means the event was not stored;
// ErrClosed means Close gave up before writing it (not stored).
//
// If ctx ends first, Submit returns ctx.Err(). Not acknowledged is not "not
// stored": if the batch's write had already begun, the event may be stored
// (and counted "stored" in the metrics) although its Submit reported an
// error; if it had not, the event is withdrawn and never written. What is
// guaranteed is that no event is reported stored unless it is.
//
// The batcher reads event until Submit returns (it copies it into the batch
// before writing); the caller must not modify it before then, and may reuse
// it after.
func (b *Batcher) Submit(ctx context.Context, event []byte) (Position, error) {
	switch {
	case len(event) == 0:
		b.m.empty.Inc()
		return Position{}, ErrEmpty
	case len(event) > b.cfg.MaxEventBytes:
		b.m.tooLarge.Inc()
		return Position{}, ErrTooLarge
	}
	if b.cfg.Format == FormatJSON {
		buf := jsonPool.Get().(*bytes.Buffer)
		if err := CompactJSON(buf, event); err != nil {
			putJSONBuffer(buf)
			b.m.invalid.Inc()
			return Position{}, err
		}
		defer putJSONBuffer(buf) // the batcher no longer reads event once Submit returns
		event = buf.Bytes()
	}
	if err := ctx.Err(); err != nil {
		b.m.withdrawn.Inc()
		return Position{}, err
	}
	w := waiterPool.Get().(*waiter)
	w.event, w.queued = event, time.Now()
	if b.tr != nil {
		w.sc = trace.SpanContextFromContext(ctx) // a value: no allocation
	}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		putWaiter(w)
		b.m.closed.Inc()
		return Position{}, ErrClosed
	}
	if b.pending.Add(1) > int64(b.cfg.Queue) {
		b.pending.Add(-1)
		b.mu.RUnlock()
		putWaiter(w)
		b.m.queueFull.Inc()
		return Position{}, ErrQueueFull
	}
	b.queue <- w // does not block: len(queue) ≤ pending ≤ cap(queue)
	b.mu.RUnlock()
	select {
	case <-w.done:
	case <-ctx.Done():
		w.mu.Lock()
		if w.state != stateAnswered {
			w.gone = true
			w.mu.Unlock()
			return Position{}, ctx.Err()
		}
		w.mu.Unlock()
		<-w.done // answered: the signal is sent or on its way
	}
	pos, err := w.pos, w.err
	putWaiter(w)
	return pos, err
}

// Ready reports whether the sink is usable: false once it has failed
// continuously (no successful Append or Ping) for Config.UnreadyAfter, or
// once one Append or Ping has been running that long (a hung sink).
func (b *Batcher) Ready() bool {
	now := time.Since(b.epoch)
	for _, since := range [...]int64{b.failingSince.Load(), b.busySince.Load()} {
		if since != 0 && now-time.Duration(since-1) >= b.cfg.UnreadyAfter {
			return false
		}
	}
	return true
}

// busy marks the start (true) or end of a sink call, for Ready.
func (b *Batcher) busy(on bool) {
	if on {
		b.busySince.Store(int64(time.Since(b.epoch)) + 1)
		return
	}
	b.busySince.Store(0)
}

// Pending returns the events accepted and not yet answered.
func (b *Batcher) Pending() int { return int(b.pending.Load()) }

// Close stops accepting events (Submit returns ErrClosed), writes every
// queued event to the sink and waits for the answers. If ctx ends first, the
// Append in progress gets a cancelled context, the events not yet written
// are answered ErrClosed, and Close returns ctx.Err() once the writer has
// exited. A sink that ignores its context delays Close by that Append.
// Close does not close the sink. Calling it again waits again.
func (b *Batcher) Close(ctx context.Context) error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.mu.Unlock()
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		b.abortOnce.Do(func() {
			close(b.abort)
			b.cancelWrite()
		})
		<-b.done
		return ctx.Err()
	}
}

// run is the writer goroutine.
func (b *Batcher) run() {
	defer close(b.done)
	defer b.cancelWrite()
	timer := time.NewTimer(time.Hour)
	timer.Stop() // since Go 1.23 a stopped timer delivers no stale value
	stopping := false
	for {
		var first *waiter
		if stopping {
			select {
			case first = <-b.queue:
			default:
				return // Submit can no longer send: the queue is empty for good
			}
		} else {
			var probe <-chan time.Time
			if b.failures > 0 && b.pinger != nil {
				timer.Reset(max(time.Until(b.retryAt), 0))
				probe = timer.C
			}
			select {
			case first = <-b.queue:
			case <-probe:
				b.ping()
				continue
			case <-b.stop:
				stopping = true
			}
			if probe != nil {
				timer.Stop()
			}
			if first == nil {
				continue
			}
		}
		b.batch = append(b.batch[:0], first)
		stopping = b.gather(timer, first.queued.Add(b.cfg.BatchWait), stopping)
		b.flush()
	}
}

// gather adds events to b.batch until it is full, deadline passes, or (when
// stopping) the queue is empty. It returns whether the batcher is stopping.
func (b *Batcher) gather(timer *time.Timer, deadline time.Time, stopping bool) bool {
	armed := false
	defer func() {
		if armed {
			timer.Stop()
		}
	}()
	for len(b.batch) < b.cfg.BatchSize {
		select {
		case w := <-b.queue:
			b.batch = append(b.batch, w)
			continue
		default:
		}
		if stopping {
			return true // drain without waiting
		}
		if !armed {
			d := time.Until(deadline)
			if d <= 0 {
				return false
			}
			timer.Reset(d)
			armed = true
		}
		select {
		case w := <-b.queue:
			b.batch = append(b.batch, w)
		case <-timer.C:
			armed = false
			return false
		case <-b.stop:
			stopping = true
		}
	}
	return stopping
}

// flush writes b.batch with one Append and answers its waiters.
func (b *Batcher) flush() {
	live := b.batch[:0]
	b.arena, b.ends = b.arena[:0], b.ends[:0]
	for _, w := range b.batch {
		w.mu.Lock()
		if w.gone { // withdrawn before the write: never stored
			w.mu.Unlock()
			b.pending.Add(-1)
			b.m.withdrawn.Inc()
			putWaiter(w)
			continue
		}
		w.state = stateTaken
		b.arena = append(b.arena, w.event...)
		w.mu.Unlock()
		b.ends = append(b.ends, len(b.arena))
		live = append(live, w)
	}
	b.batch = live
	n := len(live)
	if n == 0 {
		return
	}
	select {
	case <-b.abort:
		b.m.closed.Add(float64(n)) // counted before answering: a caller may read the metric next
		b.answerAll(ErrClosed)
		return
	default:
	}
	start := time.Now()
	if b.failures > 0 && start.Before(b.retryAt) {
		b.m.sinkError.Add(float64(n))
		b.answerAll(b.backoffErr)
		return
	}
	events, from := b.events[:n], 0
	for i, end := range b.ends {
		events[i] = b.arena[from:end:end]
		from = end
	}
	wait := start.Sub(live[0].queued)
	b.m.batchSize.Observe(float64(n))
	b.m.batchWait.Observe(wait.Seconds())
	ctx := b.writeCtx
	var span trace.Span
	if b.tr != nil {
		ctx, span = b.tr.start(ctx, start, live)
	}
	b.busy(true)
	pos, err := b.sink.Append(ctx, events)
	b.busy(false)
	end := time.Now()
	b.m.appendTime.Observe(end.Sub(start).Seconds())
	clear(events)
	if err == nil && len(pos) != n {
		err = fmt.Errorf("sink returned %d positions for %d events", len(pos), n)
	}
	if span != nil { // ended before the answers, so before the spans of the requests answered
		b.tr.end(span, start, end, n, len(b.arena), wait, err)
	}
	if err != nil {
		b.fail(err)
		b.m.sinkError.Add(float64(n))
		b.answerAll(fmt.Errorf("%w: %w", ErrSinkUnavailable, err))
		return
	}
	b.succeed()
	b.m.stored.Add(float64(n))
	for i, w := range live {
		b.answer(w, pos[i], nil)
	}
}

func (b *Batcher) answerAll(err error) {
	for _, w := range b.batch {
		b.answer(w, Position{}, err)
	}
}

// answer hands w its result; w must not be touched after.
func (b *Batcher) answer(w *waiter, pos Position, err error) {
	b.pending.Add(-1)
	w.mu.Lock()
	if w.gone {
		w.mu.Unlock()
		putWaiter(w)
		return
	}
	w.pos, w.err, w.state = pos, err, stateAnswered
	w.mu.Unlock()
	w.done <- struct{}{}
}

func (b *Batcher) ping() {
	ctx, cancel := context.WithTimeout(b.writeCtx, pingTimeout)
	b.busy(true)
	err := b.pinger.Ping(ctx)
	b.busy(false)
	cancel()
	if err != nil {
		b.fail(fmt.Errorf("ping: %w", err))
		return
	}
	b.succeed()
}

func (b *Batcher) fail(err error) {
	now := time.Now()
	b.failures++
	b.m.failures.Inc()
	b.retryAt = now.Add(backoff(b.failures))
	b.backoffErr = fmt.Errorf("%w: backing off after: %w", ErrSinkUnavailable, err)
	if b.failures == 1 {
		b.failingSince.Store(int64(now.Sub(b.epoch)) + 1)
		b.log.Warn("ingest: sink failing; answering 503 until it recovers", "err", err.Error())
	}
}

func (b *Batcher) succeed() {
	if b.failures == 0 {
		return
	}
	b.log.Info("ingest: sink recovered", "failures", b.failures)
	b.failures = 0
	b.failingSince.Store(0)
}
