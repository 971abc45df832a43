package report

import (
	"errors"
	"fmt"
)

// Merge combines results of generators that ran at the same time against the
// same target into one: histograms are merged losslessly, so the percentiles
// are exactly those of one histogram of all requests; counters, bytes and
// RPS are summed; the duration is the longest window. The server cost meter
// is kept only when every input measured the same PID (CPU then is the
// largest reading, since all generators watched the same process). Inputs
// are not modified.
func Merge(rs ...*Result) (*Result, error) {
	if len(rs) == 0 {
		return nil, errors.New("report: merge: no results")
	}
	lat, svc := NewHistogram(), NewHistogram()
	first := rs[0]
	out := &Result{
		Schema: Schema, Target: first.Target, Method: first.Method, Protocol: first.Protocol,
		Mode: first.Mode, StartedAt: first.StartedAt, Streams: first.Streams,
		ErrorClasses: map[string]uint64{}, Status: map[string]uint64{},
	}
	var genCPU float64
	haveGen := true
	server := first.Server
	for i, r := range rs {
		if r.Schema != Schema {
			return nil, fmt.Errorf("report: merge input %d: schema %q: %w", i+1, r.Schema, ErrSchema)
		}
		l, s, err := r.DecodeHistograms()
		if err != nil {
			return nil, fmt.Errorf("report: merge input %d: %w", i+1, err)
		}
		if d := lat.Merge(l); d != 0 {
			return nil, fmt.Errorf("report: merge input %d: %d latency values out of range", i+1, d)
		}
		if d := svc.Merge(s); d != 0 {
			return nil, fmt.Errorf("report: merge input %d: %d service-time values out of range", i+1, d)
		}
		if r.Target != out.Target {
			out.Target = "(several targets)"
		}
		if r.Protocol != out.Protocol {
			out.Protocol = "(mixed)"
		}
		if r.Mode != out.Mode {
			out.Mode = "(mixed)"
		}
		if r.Method != out.Method {
			out.Method = "(mixed)"
		}
		if r.StartedAt.Before(out.StartedAt) {
			out.StartedAt = r.StartedAt
		}
		g := r.Generators
		if g < 1 {
			g = 1
		}
		out.Generators += g
		out.Connections += r.Connections
		out.RateTarget += r.RateTarget
		out.DurationS = max(out.DurationS, r.DurationS)
		out.WarmupS = max(out.WarmupS, r.WarmupS)
		out.Interrupted = out.Interrupted || r.Interrupted
		out.Requests += r.Requests
		out.Successes += r.Successes
		out.Errors += r.Errors
		out.RPS += r.RPS
		out.BytesIn += r.BytesIn
		out.BytesOut += r.BytesOut
		out.LateSends += r.LateSends
		for k, v := range r.ErrorClasses {
			out.ErrorClasses[k] += v
		}
		for k, v := range r.Status {
			out.Status[k] += v
		}
		if r.Generator == nil {
			haveGen = false
		} else {
			genCPU += r.Generator.Seconds
		}
		if r.Server == nil || server == nil || r.Server.PID != server.PID {
			server = nil
		} else if r.Server.Seconds > server.Seconds || r.Server.PeakRSSBytes > server.PeakRSSBytes {
			s := *server
			s.Seconds = max(s.Seconds, r.Server.Seconds)
			s.PeakRSSBytes = max(s.PeakRSSBytes, r.Server.PeakRSSBytes)
			server = &s
		}
	}
	if haveGen {
		out.Generator = &CPU{Seconds: genCPU, PerRequestUs: perRequestUs(genCPU, out.Requests)}
	}
	if server != nil {
		s := *server
		s.PerRequestUs = perRequestUs(s.Seconds, out.Requests)
		out.Server = &s
	}
	if err := out.SetHistograms(lat, svc); err != nil {
		return nil, err
	}
	return out, nil
}

// perRequestUs returns cpu seconds ÷ n in microseconds, 0 when n is 0.
func perRequestUs(cpuS float64, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return round2(cpuS * 1e6 / float64(n))
}

// PerRequestUs returns cpuSeconds ÷ requests in microseconds, rounded to two
// decimals; 0 when requests is 0.
func PerRequestUs(cpuSeconds float64, requests uint64) float64 {
	return perRequestUs(cpuSeconds, requests)
}
