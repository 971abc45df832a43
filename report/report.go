// Package report holds the results of a hotpath load test: latency and
// service-time HDR histograms (1 µs to 60 s, 3 significant digits), counters,
// and the cost meter. It defines the versioned JSON schema "hotpath.bench/v1",
// merges results of several generators losslessly, and renders them as text.
package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Schema is the value of the "schema" field of every result this package
// writes. A reader refuses any other value.
const Schema = "hotpath.bench/v1"

// Histogram range and precision, in microseconds: values outside are clamped
// to the range when recorded through Record.
const (
	LowestUs  = 1
	HighestUs = 60_000_000
	SigFigs   = 3
)

// NewHistogram returns an empty histogram with the package's range and
// precision. Histograms are not safe for concurrent use.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(LowestUs, HighestUs, SigFigs)
}

// Record adds d to h in microseconds, clamped to [LowestUs, HighestUs]. It
// does not allocate.
func Record(h *hdrhistogram.Histogram, d time.Duration) {
	us := int64(d / time.Microsecond)
	if us < LowestUs {
		us = LowestUs
	} else if us > HighestUs {
		us = HighestUs
	}
	_ = h.RecordValue(us) // cannot fail: the value is in range
}

// Summary is a distribution in microseconds, computed from a histogram.
type Summary struct {
	Min   int64   `json:"min"`
	Mean  float64 `json:"mean"`
	Stdev float64 `json:"stdev"`
	P50   int64   `json:"p50"`
	P75   int64   `json:"p75"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p999"`
	P9999 int64   `json:"p9999"`
	Max   int64   `json:"max"`
}

// Summarize computes the summary of h. An empty histogram gives zeros.
func Summarize(h *hdrhistogram.Histogram) Summary {
	if h.TotalCount() == 0 {
		return Summary{}
	}
	return Summary{
		Min:   h.Min(),
		Mean:  round2(h.Mean()),
		Stdev: round2(h.StdDev()),
		P50:   h.ValueAtPercentile(50),
		P75:   h.ValueAtPercentile(75),
		P90:   h.ValueAtPercentile(90),
		P99:   h.ValueAtPercentile(99),
		P999:  h.ValueAtPercentile(99.9),
		P9999: h.ValueAtPercentile(99.99),
		Max:   h.Max(),
	}
}

func round2(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 2, 64), 64)
	return v
}

// CPU is the processor time a process spent over the measured window.
type CPU struct {
	// Seconds is user+system CPU time in seconds.
	Seconds float64 `json:"cpu_s"`
	// PerRequestUs is Seconds ÷ requests, in microseconds (0 with no requests).
	PerRequestUs float64 `json:"cpu_us_per_request"`
}

// Server is the cost meter of a target process on the same machine.
type Server struct {
	PID int `json:"pid"`
	CPU
	// PeakRSSBytes is the process's resident-set high-water mark (VmHWM) read
	// at the end of the run.
	PeakRSSBytes uint64 `json:"peak_rss_bytes"`
}

// Histograms holds the encoded histograms of a result: HdrHistogram V2
// compressed encoding, base64 (readable by every HdrHistogram library).
type Histograms struct {
	Latency     string `json:"latency"`
	ServiceTime string `json:"service_time"`
}

// Result is one load test, or the merge of several. Its JSON form is the
// documented schema "hotpath.bench/v1" (docs/bench.md). Counters count the
// measured requests: in closed loop those completed inside the window after
// warm-up, in open loop those scheduled inside it.
type Result struct {
	Schema      string    `json:"schema"`
	Target      string    `json:"target"`
	Method      string    `json:"method"`
	Protocol    string    `json:"protocol"` // "http/1.1", "h2", "h2c", or a transport's name
	Mode        string    `json:"mode"`     // "closed" or "open"
	Connections int       `json:"connections"`
	Streams     int       `json:"streams,omitempty"`     // concurrent streams per connection (HTTP/2)
	RateTarget  float64   `json:"rate_target,omitempty"` // requests/s asked for (open loop)
	Generators  int       `json:"generators"`            // 1, or the number of results merged
	StartedAt   time.Time `json:"started_at"`
	DurationS   float64   `json:"duration_s"` // measured window (longest one when merged)
	WarmupS     float64   `json:"warmup_s"`
	Interrupted bool      `json:"interrupted,omitempty"` // stopped early by the user

	Requests  uint64 `json:"requests"`  // completed: Successes + Errors
	Successes uint64 `json:"successes"` // responses with status < 400
	Errors    uint64 `json:"errors"`    // transport errors + responses with status >= 400
	// ErrorClasses counts transport errors by class: connect, timeout, reset, protocol, other.
	ErrorClasses map[string]uint64 `json:"error_classes"`
	// Status counts responses by HTTP status code (decimal string keys).
	Status    map[string]uint64 `json:"status"`
	RPS       float64           `json:"rps"` // Requests ÷ DurationS (sum over generators when merged)
	BytesIn   uint64            `json:"bytes_in"`
	BytesOut  uint64            `json:"bytes_out"`
	LateSends uint64            `json:"late_sends"` // open loop: sends that found no free connection when due

	// Latency is measured from the intended send time (corrected for
	// coordinated omission in open loop); ServiceTime from the actual send.
	// In closed loop they are equal.
	Latency     Summary    `json:"latency_us"`
	ServiceTime Summary    `json:"service_time_us"`
	Histograms  Histograms `json:"histograms"`

	Generator *CPU    `json:"generator,omitempty"`
	Server    *Server `json:"server,omitempty"`
}

// SetHistograms encodes lat and svc into r.Histograms and recomputes
// r.Latency and r.ServiceTime from them.
func (r *Result) SetHistograms(lat, svc *hdrhistogram.Histogram) error {
	le, err := lat.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return fmt.Errorf("report: encode latency histogram: %w", err)
	}
	se, err := svc.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return fmt.Errorf("report: encode service-time histogram: %w", err)
	}
	r.Histograms = Histograms{Latency: string(le), ServiceTime: string(se)}
	r.Latency = Summarize(lat)
	r.ServiceTime = Summarize(svc)
	return nil
}

// Responses is the number of responses the result counts: the sum of
// Status.
func (r *Result) Responses() uint64 {
	var n uint64
	for _, c := range r.Status {
		n += c
	}
	return n
}

// DecodeHistograms decodes r.Histograms. An empty field decodes to an empty
// histogram.
func (r *Result) DecodeHistograms() (lat, svc *hdrhistogram.Histogram, err error) {
	dec := func(name, s string) (*hdrhistogram.Histogram, error) {
		if s == "" {
			return NewHistogram(), nil
		}
		h, err := hdrhistogram.Decode([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("report: decode %s histogram: %w", name, err)
		}
		return h, nil
	}
	if lat, err = dec("latency", r.Histograms.Latency); err != nil {
		return nil, nil, err
	}
	if svc, err = dec("service_time", r.Histograms.ServiceTime); err != nil {
		return nil, nil, err
	}
	return lat, svc, nil
}

// WriteJSON writes r as indented JSON followed by a newline.
func WriteJSON(w io.Writer, r *Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: marshal result: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("report: write result: %w", err)
	}
	return nil
}

// ErrSchema is returned (wrapped) by ReadJSON for input that is not a
// hotpath.bench/v1 result.
var ErrSchema = errors.New("not a " + Schema + " result")

// ReadJSON parses one result and checks its schema and histograms; name
// (usually a file name) prefixes errors. Every response is in both
// histograms, so each must hold as many values as the status counts add up
// to: a result whose histograms were dropped or do not belong to it is
// refused (ErrSchema), since merging it would report percentiles of only
// some of the requests it counts.
func ReadJSON(name string, data []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %q: %w", name, r.Schema, ErrSchema)
	}
	lat, svc, err := r.DecodeHistograms()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	responses := r.Responses()
	for _, h := range []struct {
		name  string
		count int64
	}{{"latency", lat.TotalCount()}, {"service_time", svc.TotalCount()}} {
		if h.count < 0 || uint64(h.count) != responses {
			return nil, fmt.Errorf("%s: histograms.%s holds %d values but status counts %d responses: %w",
				name, h.name, h.count, responses, ErrSchema)
		}
	}
	return &r, nil
}

// sortedKeys returns m's keys sorted, numeric strings by value.
func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, ea := strconv.Atoi(keys[i])
		b, eb := strconv.Atoi(keys[j])
		if ea == nil && eb == nil {
			return a < b
		}
		return keys[i] < keys[j]
	})
	return keys
}
