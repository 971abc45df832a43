package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/hotpath-dev/hotpath/pacer"
	"github.com/hotpath-dev/hotpath/report"
)

// worker is the state of one request slot. Everything a request touches is
// preallocated here: two histograms, fixed-size counters, one Outcome.
type worker struct {
	lat, svc *hdrhistogram.Histogram
	ok       uint64
	errs     uint64
	status   [600]uint64 // by HTTP status; index 0 holds codes outside 100-599
	classes  [len(classes)]uint64
	bytesIn  uint64
	bytesOut uint64
	out      Outcome
	closed   bool // closed loop: intended == sent, svc is not recorded per request

	live     bool       // progress is on: guard histograms with mu, publish counters
	mu       sync.Mutex // guards lat while live
	requests atomic.Uint64
	errors   atomic.Uint64
}

// record accounts one finished request: intended and sent are the intended
// and actual send times, done the completion, all offsets from the start.
func (w *worker) record(intended, sent, done time.Duration) {
	o := &w.out
	w.bytesIn += uint64(o.BytesIn)
	w.bytesOut += uint64(o.BytesOut)
	failed := o.Err != nil || o.Status >= 400
	if o.Err != nil {
		w.classes[classify(o.Err)]++
	} else {
		s := o.Status
		if s < 100 || s >= len(w.status) {
			s = 0
		}
		w.status[s]++
		if w.live {
			w.mu.Lock()
		}
		report.Record(w.lat, done-intended)
		if !w.closed { // closed loop: service time is the latency, merged once at the end
			report.Record(w.svc, done-sent)
		}
		if w.live {
			w.mu.Unlock()
		}
	}
	if failed {
		w.errs++
	} else {
		w.ok++
	}
	if w.live {
		w.requests.Add(1)
		if failed {
			w.errors.Add(1)
		}
	}
}

// Run performs the load test described by c and returns its result. It
// returns an error wrapping ErrConfig for an invalid config and
// ErrUnreachable when the first connection cannot be made; once traffic
// flows, failures are counted in the result, never returned. Cancelling ctx
// stops the test early: Run then returns what was measured, with
// Interrupted set.
func Run(ctx context.Context, c Config) (*report.Result, error) {
	c, tgt, err := c.check()
	if err != nil {
		return nil, err
	}
	tr := c.Transport
	if tr == nil {
		tr = newTransport(c, tgt)
	}
	var p pacer.Pacer
	if c.Rate > 0 {
		if p, err = pacer.NewConstant(c.Rate); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var clients []Client
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	for i := 0; i < c.Connections; i++ {
		cs, err := tr.Open(runCtx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if i == 0 {
				return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, c.URL, err)
			}
			return nil, fmt.Errorf("%w: %s: connection %d of %d: %w", ErrUnreachable, c.URL, i+1, c.Connections, err)
		}
		clients = append(clients, cs...)
	}

	workers := make([]*worker, len(clients))
	for i := range workers {
		w := &worker{lat: report.NewHistogram(), live: c.Progress != nil, closed: c.Rate == 0}
		if !w.closed {
			w.svc = report.NewHistogram()
		}
		workers[i] = w
	}

	start := time.Now()
	now := func() time.Duration { return time.Since(start) }
	if c.clock != nil {
		now = c.clock
	}
	warm := c.Warmup
	var end time.Duration // 0: no time limit
	if c.Duration > 0 {
		end = warm + c.Duration
	}

	// Cost meter: snapshot when the measured window opens.
	var meter struct {
		sync.Mutex
		selfCPU, srvCPU float64
		srvErr          error
	}
	snapshot := func() {
		meter.Lock()
		defer meter.Unlock()
		meter.selfCPU = selfCPU()
		if c.ServerPID > 0 {
			meter.srvCPU, meter.srvErr = procCPU(c.ServerPID)
		}
	}
	if warm == 0 {
		snapshot()
	} else {
		t := time.AfterFunc(warm, snapshot)
		defer t.Stop()
	}
	if end > 0 && p == nil {
		// Closed loop: requests in flight at the end are abandoned, as wrk
		// does. The open loop instead stops scheduling at the end and waits
		// for every scheduled request (bounded by Timeout), so that a stall
		// at the end still shows in the corrected latency.
		t := time.AfterFunc(end, cancel)
		defer t.Stop()
	}

	var wg sync.WaitGroup
	var late atomic.Uint64
	if p == nil {
		var issued atomic.Uint64
		for i, cl := range clients {
			w := workers[i]
			wg.Go(func() { closedLoop(runCtx, cl, w, now, warm, end, c.Requests, &issued) })
		}
	} else {
		s := newSchedule(p, warm, end, c.Timeout, c.Requests)
		s.fine = c.Rate < fineRateMax
		var next atomic.Uint64
		for i, cl := range clients {
			w := workers[i]
			wg.Go(func() { openLoop(runCtx, cl, w, now, s, &next, &late) })
		}
	}

	if c.Progress != nil {
		stopProgress := make(chan struct{})
		var pwg sync.WaitGroup
		pwg.Go(func() { progressLoop(c, workers, now, warm, stopProgress) })
		defer func() { close(stopProgress); pwg.Wait() }()
	}

	wg.Wait()
	finish := now()
	interrupted := ctx.Err() != nil
	cancel()

	res := &report.Result{
		Schema: report.Schema, Target: c.URL, Method: c.Method, Protocol: tr.Name(),
		Mode: "closed", Connections: c.Connections, Generators: 1,
		StartedAt: start.UTC().Truncate(time.Second), WarmupS: warm.Seconds(), Interrupted: interrupted,
		ErrorClasses: map[string]uint64{}, Status: map[string]uint64{}, LateSends: late.Load(),
	}
	if c.HTTP2 || c.H2C || (c.Transport != nil && c.Streams > 1) {
		res.Streams = c.Streams
	}
	if p != nil {
		res.Mode, res.RateTarget = "open", c.Rate
	}
	window := finish
	if end > 0 && window > end && p == nil {
		// Closed loop: nothing is issued after end; the in-flight tail
		// does not stretch the window. Open loop keeps the real elapsed
		// time: when it falls behind, every due request is still sent
		// after end, and rps must be the rate achieved, not the target.
		window = end
	}
	window -= warm
	if window <= 0 {
		window = time.Microsecond
	}
	res.DurationS = window.Seconds()

	lat, svc := report.NewHistogram(), report.NewHistogram()
	for _, w := range workers {
		lat.Merge(w.lat)
		if w.closed {
			svc.Merge(w.lat)
		} else {
			svc.Merge(w.svc)
		}
		res.Successes += w.ok
		res.Errors += w.errs
		res.BytesIn += w.bytesIn
		res.BytesOut += w.bytesOut
		for i, n := range w.classes {
			if n > 0 {
				res.ErrorClasses[classes[i]] += n
			}
		}
		for code, n := range w.status {
			if n > 0 {
				res.Status[strconv.Itoa(code)] += n
			}
		}
	}
	res.Requests = res.Successes + res.Errors
	res.RPS = float64(res.Requests) / window.Seconds()
	if err := res.SetHistograms(lat, svc); err != nil {
		return nil, err
	}

	meter.Lock()
	defer meter.Unlock()
	if finish > warm { // the window opened: the snapshot is taken
		gen := selfCPU() - meter.selfCPU
		res.Generator = &report.CPU{Seconds: gen, PerRequestUs: report.PerRequestUs(gen, res.Requests)}
		if c.ServerPID > 0 {
			if meter.srvErr != nil {
				return res, fmt.Errorf("cost meter: %w", meter.srvErr)
			}
			cpu, err := procCPU(c.ServerPID)
			if err != nil {
				return res, fmt.Errorf("cost meter: %w", err)
			}
			rss, err := procPeakRSS(c.ServerPID)
			if err != nil {
				return res, fmt.Errorf("cost meter: %w", err)
			}
			cpu -= meter.srvCPU
			res.Server = &report.Server{PID: c.ServerPID, PeakRSSBytes: rss,
				CPU: report.CPU{Seconds: cpu, PerRequestUs: report.PerRequestUs(cpu, res.Requests)}}
		}
	}
	return res, nil
}

func newTransport(c Config, t target) Transport {
	if c.HTTP2 || c.H2C {
		return newH2Transport(c, t)
	}
	h := &h1Transport{
		addr:      t.addr,
		req:       buildRequest(c.Method, t.requestURI, t.host, c.Headers, c.Body, !c.DisableKeepAlive),
		noBody:    c.Method == "HEAD",
		keepAlive: !c.DisableKeepAlive,
		timeout:   c.Timeout,
	}
	if t.scheme == "https" {
		h.tlsConf = &tls.Config{ //nolint:gosec // InsecureSkipVerify only when the user asked with --insecure
			ServerName:         t.hostname,
			RootCAs:            c.RootCAs,
			InsecureSkipVerify: c.Insecure,
			NextProtos:         []string{"http/1.1"},
		}
	}
	return h
}

// closedLoop sends requests back to back until the run ends or the count
// limit is reached. The intended send time is the actual one.
func closedLoop(ctx context.Context, cl Client, w *worker, now func() time.Duration,
	warm, end time.Duration, limit uint64, issued *atomic.Uint64) {
	for ctx.Err() == nil {
		sent := now()
		if end > 0 && sent >= end {
			return
		}
		measured := sent >= warm
		if measured && limit > 0 && issued.Add(1) > limit {
			return
		}
		cl.Do(ctx, &w.out)
		done := now()
		if w.out.Err != nil && ctx.Err() != nil {
			return // aborted by the end of the run: not a server failure
		}
		if measured && (end == 0 || done <= end) {
			w.record(sent, sent, done)
		}
		if w.out.Err != nil && classify(w.out.Err) == idxConnect {
			backoff(ctx)
		}
	}
}

// Open-loop scheduling. There is no central dispatcher: each worker takes
// the next request number (a ticket) from one shared counter, asks the pacer
// when that request is due, sleeps until then and sends it. The rate stays
// global because the schedule is a pure function of the ticket, and a send
// costs the worker one atomic add instead of a hand-off through a
// dispatcher goroutine that every send had to wait for (on a busy P it
// queues behind the workers). docs/bench.md has the before/after figures.

// schedule is the part of an open-loop run that decides, for each ticket,
// when it is due and whether it is sent at all.
type schedule struct {
	p      pacer.Pacer
	warm   time.Duration // tickets due before warm are sent but not measured
	end    time.Duration // tickets due at or after end are not sent; 0: no time limit
	stopAt uint64        // tickets numbered stopAt or more are not sent; 0: no count limit
	// timeout is the request timeout: once the run has ended, a ticket
	// overdue by this much is not sent (it expires). 0: tickets never expire.
	timeout time.Duration
	fine    bool // workers sleep on the fine sleeper (rates below fineRateMax)
}

// newSchedule builds the schedule of an open-loop run. A count limit of
// limit measured requests becomes a ticket number: the first ticket due
// after the warm-up plus limit.
func newSchedule(p pacer.Pacer, warm, end, timeout time.Duration, limit uint64) schedule {
	s := schedule{p: p, warm: warm, end: end, timeout: timeout}
	if limit > 0 {
		s.stopAt = firstDueAt(p, warm) + limit
	}
	return s
}

// firstDueAt returns the smallest ticket due at or after at (pacers are
// monotonic, so a search finds it), or the first ticket off the schedule.
func firstDueAt(p pacer.Pacer, at time.Duration) uint64 {
	before := func(i uint64) bool { d, ok := p.Due(i); return ok && d < at }
	if !before(0) {
		return 0
	}
	lo, hi := uint64(0), uint64(1) // before(lo) holds
	for before(hi) {
		if hi > math.MaxUint64/2 {
			return hi
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 { // before(lo) && !before(hi)
		mid := lo + (hi-lo)/2
		if before(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// minWait is the shortest wait worth sleeping for: a sleep costs several
// microseconds of syscalls and scheduling, and wakes at least that late.
// A ticket due sooner is sent at once (its latency then counts from the
// actual send, see openLoop).
const minWait = 5 * time.Microsecond

// ticket is the verdict of a schedule on one ticket taken at some moment.
type ticket struct {
	due  time.Duration // intended send time, offset from the start
	wait time.Duration // how long to sleep before sending; 0: send now
	late bool          // measured and already overdue when taken
	stop bool          // not to be sent: past the end, the count or the schedule
	// expired: not to be sent, counted as a timeout. Taken after the end
	// of the run and overdue by the request timeout: the request could no
	// longer be answered within --timeout of its due time.
	expired bool
}

// take returns the verdict on ticket i taken at elapsed time now by a
// worker that has sent before (busy) or is taking its first ticket. It is a
// pure function. Workers take tickets in order, each as soon as it is free,
// so a ticket overdue when a busy worker takes it was due while every
// worker was busy: that is a late send (the rate could not be kept at that
// moment), and its latency still counts from the due time. Within minWait
// of the due time a send is on time; a worker's first ticket is never late
// (at the start the first tickets are due before any worker runs).
//
// After the end of a timed run the workers still take the tickets due
// before the end, so a stall at the end is measured, but a ticket already
// overdue by the request timeout expires instead of being sent: without
// that rule a server slower than the rate made the run last
// rate × duration × service time ÷ connections, however short -d was. The
// run therefore ends within about twice the timeout after the end.
func (s schedule) take(i uint64, now time.Duration, busy bool) ticket {
	if s.stopAt > 0 && i >= s.stopAt {
		return ticket{stop: true}
	}
	due, ok := s.p.Due(i)
	if !ok || (s.end > 0 && due >= s.end) {
		return ticket{stop: true}
	}
	t := ticket{due: due}
	switch wait := due - now; {
	case wait >= minWait:
		t.wait = wait
	case wait <= -minWait:
		t.late = busy && due >= s.warm
		t.expired = s.end > 0 && s.timeout > 0 && now >= s.end && -wait >= s.timeout
	}
	return t
}

// Sleeps longer than coarseWait use a Go timer (cancellable) for all but
// coarseMargin of the wait; the rest, and every shorter sleep, use the fine
// sleeper when there is one.
const (
	coarseWait   = 4 * time.Millisecond
	coarseMargin = 2 * time.Millisecond
)

// fineRateMax is the rate from which the open loop paces with Go timers
// only. The fine sleeper wakes each worker through the netpoller, which the
// scheduler checks only when it runs out of other work; at high rates the
// generator is rarely idle, its Go timers (checked at every goroutine
// switch) are then precise enough, and waking through the poller made it
// fall behind: on this project's 2-vCPU VM at 20000/s, -c 64, late sends
// fell from 55-80k to 11-29k of 100000 with Go timers only (three paired
// runs, docs/bench.md), while at 10000/s the fine sleeper still gave
// corrected latencies 0.2-0.4 ms closer to the service time.
const fineRateMax = 15000

// openLoop is one worker of an open-loop run: it takes tickets from next
// until the schedule says stop, sleeping until each is due, and records
// latency from the due time and service time from the actual send.
func openLoop(ctx context.Context, cl Client, w *worker, now func() time.Duration,
	s schedule, next, late *atomic.Uint64) {
	sl := sleeper{goTimersOnly: !s.fine}
	defer sl.close()
	for busy := false; ctx.Err() == nil; busy = true {
		t := s.take(next.Add(1)-1, now(), busy)
		if t.stop {
			return
		}
		if t.late {
			late.Add(1)
		}
		if t.expired {
			if t.due >= s.warm {
				w.out = Outcome{Err: errExpired}
				w.record(t.due, t.due, t.due) // an error: no histogram entry
			}
			continue
		}
		for t.wait > 0 { // re-read the clock: a sleep may end early or late
			if !sl.sleep(ctx, t.wait) {
				return
			}
			if t.wait = t.due - now(); t.wait < minWait {
				t.wait = 0
			}
		}
		sent := now()
		cl.Do(ctx, &w.out)
		done := now()
		if w.out.Err != nil && ctx.Err() != nil {
			return // aborted by Ctrl-C: not a server failure
		}
		if t.due >= s.warm {
			// A send up to minWait early counts from the actual send, so
			// that latency is never below service time.
			w.record(min(t.due, sent), sent, done)
		}
	}
}

// sleeper is one worker's pacing sleep: a Go timer for the long part of
// long waits, the fine sleeper (timerfd, see sleep_linux.go) for the rest.
// Both are made on first use, so closed-loop runs and workers that never
// wait pay nothing.
type sleeper struct {
	timer    *time.Timer
	fine     *fineSleeper
	fineDone bool // the fine sleeper was tried (it may have failed)

	goTimersOnly bool // never use the fine sleeper
}

// sleep waits for about d (never less, unless ctx ends) and reports false
// when ctx ended.
func (s *sleeper) sleep(ctx context.Context, d time.Duration) bool {
	if !s.fineDone && !s.goTimersOnly {
		s.fineDone = true
		if f, err := newFineSleeper(); err == nil {
			s.fine = f
		}
	}
	if s.fine != nil && d <= coarseWait {
		if err := s.fine.sleep(d); err != nil {
			s.fine.close()
			s.fine = nil // fall back to Go timers
		}
		return ctx.Err() == nil
	}
	if s.fine != nil {
		d -= coarseMargin
	}
	if s.timer == nil {
		s.timer = time.NewTimer(d)
	} else {
		s.timer.Reset(d)
	}
	select {
	case <-s.timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *sleeper) close() {
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.fine != nil {
		s.fine.close()
	}
}

// backoff pauses a worker after a failed connect so that an unreachable
// target is not hammered in a tight loop.
func backoff(ctx context.Context) {
	t := time.NewTimer(10 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func progressLoop(c Config, workers []*worker, now func() time.Duration, warm time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(c.ProgressEvery)
	defer tick.Stop()
	scratch := report.NewHistogram()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		var pr Progress
		pr.Elapsed = now()
		pr.Warmup = pr.Elapsed < warm
		scratch.Reset()
		for _, w := range workers {
			pr.Requests += w.requests.Load()
			pr.Errors += w.errors.Load()
			w.mu.Lock()
			scratch.Merge(w.lat)
			w.mu.Unlock()
		}
		if m := pr.Elapsed - warm; m > 0 {
			pr.RPS = float64(pr.Requests) / m.Seconds()
		}
		pr.P99 = time.Duration(scratch.ValueAtPercentile(99)) * time.Microsecond
		c.Progress(pr)
	}
}

// IsBadInput reports whether err from Run means the test could not start
// because of its input (invalid config or unreachable target).
func IsBadInput(err error) bool {
	return errors.Is(err, ErrConfig) || errors.Is(err, ErrUnreachable)
}
