package filelog

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultSegmentBytes is the segment size Options.SegmentBytes 0 stands for.
const DefaultSegmentBytes = 64 << 20

// FsyncPolicy says when Append fsyncs. Its zero value is FsyncBatch.
type FsyncPolicy int

const (
	// FsyncBatch fsyncs the segment before each Append returns: what Append
	// returned for survives a power loss. The default.
	FsyncBatch FsyncPolicy = iota
	// FsyncNever never fsyncs in Append (only when a segment is sealed and
	// on Close). UNSAFE: what Append returned for survives a process crash
	// but may be lost on power loss or kernel crash.
	FsyncNever
)

// String returns "batch" or "never", the names ParseFsync accepts.
func (p FsyncPolicy) String() string {
	switch p {
	case FsyncBatch:
		return "batch"
	case FsyncNever:
		return "never"
	}
	return fmt.Sprintf("FsyncPolicy(%d)", int(p))
}

// ParseFsync parses "batch" or "never" (the --fsync flag's values).
func ParseFsync(s string) (FsyncPolicy, error) {
	switch s {
	case "batch":
		return FsyncBatch, nil
	case "never":
		return FsyncNever, nil
	}
	return 0, fmt.Errorf("filelog: unknown fsync policy %q (want batch or never)", s)
}

// Options tunes a Log. The zero value is the defaults.
type Options struct {
	// SegmentBytes is the size past which Append starts a new segment
	// (default DefaultSegmentBytes, 64 MiB). A batch is never split: a
	// segment can exceed SegmentBytes by a batch that alone is larger.
	// Negative is an error.
	SegmentBytes int64
	// Fsync is the fsync policy (default FsyncBatch).
	Fsync FsyncPolicy
	// Logger receives recovery warnings (a tail cut off on Open, a failed
	// close). nil discards them.
	Logger *slog.Logger
	// Registerer, when not nil, gets the histograms
	// hotpath_ingest_sink_write_seconds (the write of one batch) and
	// hotpath_ingest_fsync_seconds (one fsync of a segment in Append). If
	// they are already registered there (a Log reopened in the same
	// process), the registered ones are used.
	Registerer prometheus.Registerer

	// wrapFile, when set (tests only), wraps every segment file the Log
	// writes, to inject failures.
	wrapFile func(segFile) segFile
	// statfs, when set (tests only), replaces statfsDir in Ping.
	statfs func(dir string) (free uint64, rdonly bool, err error)
}

func (o Options) withDefaults() (Options, error) {
	if o.SegmentBytes < 0 {
		return o, fmt.Errorf("filelog: Options.SegmentBytes %d is negative", o.SegmentBytes)
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.Fsync != FsyncBatch && o.Fsync != FsyncNever {
		return o, fmt.Errorf("filelog: Options.Fsync: unknown policy %d", int(o.Fsync))
	}
	if o.statfs == nil {
		o.statfs = statfsDir
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
