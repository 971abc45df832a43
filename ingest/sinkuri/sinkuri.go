// Package sinkuri opens the ingest sink named by a --ingest-sink URI:
// file:DIR (the embedded log, ingest/filelog), kafka://HOST:PORT[,…]/TOPIC
// (ingest/kafkasink) or off. Parse checks a URI without opening anything, so
// the CLI can refuse a bad flag before it starts.
package sinkuri

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/ingest/filelog"
	"github.com/hotpath-dev/hotpath/ingest/kafkasink"
)

// ErrBadURI is wrapped by every error about the URI's text: the message
// says what is wrong and which forms are accepted, for a CLI to print as is.
var ErrBadURI = errors.New("bad ingest sink URI")

// forms is appended to errors about an unknown scheme.
const forms = "want file:DIR, kafka://HOST:PORT[,HOST:PORT…]/TOPIC or off"

// Kind is the kind of sink a URI names.
type Kind int

// The kinds of sink. The zero Kind is Off.
const (
	Off   Kind = iota // "off": no sink, the ingest route is not mounted
	File              // "file:DIR": ingest/filelog in DIR
	Kafka             // "kafka://…": ingest/kafkasink
)

// String returns "off", "file" or "kafka".
func (k Kind) String() string {
	switch k {
	case Off:
		return "off"
	case File:
		return "file"
	case Kafka:
		return "kafka"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// URI is a parsed sink URI. Its zero value is "off".
type URI struct {
	Kind    Kind
	Dir     string   // File: the log's directory, relative or absolute, as written
	Brokers []string // Kafka: seed brokers, "host:port" each, as written
	Topic   string   // Kafka: the topic
}

// String returns the URI's text; Parse(u.String()) gives u back.
func (u URI) String() string {
	switch u.Kind {
	case File:
		if strings.HasPrefix(u.Dir, "//") {
			return "file://" + u.Dir // else "file://…" would read as a URL
		}
		return "file:" + u.Dir
	case Kafka:
		return "kafka://" + strings.Join(u.Brokers, ",") + "/" + u.Topic
	}
	return "off"
}

// Parse parses s:
//
//	off                              no sink
//	file:DIR                         DIR relative or absolute (file:/var/lib/hotpath, file:data)
//	file:///ABS/DIR                  the URL form of an absolute DIR
//	kafka://HOST:PORT[,HOST:PORT]/TOPIC
//
// Kafka topics are 1 to 249 of [a-zA-Z0-9._-] (Kafka's rule); no query
// parameters or fragments are accepted. Errors wrap ErrBadURI.
func Parse(s string) (URI, error) {
	switch {
	case s == "off":
		return URI{Kind: Off}, nil
	case strings.HasPrefix(s, "file:"):
		return parseFile(s)
	case strings.HasPrefix(s, "kafka://"):
		return parseKafka(s)
	case s == "":
		return URI{}, fmt.Errorf("%w: empty (%s)", ErrBadURI, forms)
	}
	return URI{}, fmt.Errorf("%w %q: unknown kind of sink (%s)", ErrBadURI, s, forms)
}

func parseFile(s string) (URI, error) {
	dir := strings.TrimPrefix(s, "file:")
	if rest, ok := strings.CutPrefix(dir, "//"); ok {
		// URL form: file:///abs/dir (an empty host) only.
		if !strings.HasPrefix(rest, "/") {
			return URI{}, fmt.Errorf("%w %q: file://HOST/… names another host; write file:DIR or file:///ABSOLUTE/DIR", ErrBadURI, s)
		}
		dir = rest
	}
	if dir == "" {
		return URI{}, fmt.Errorf("%w %q: no directory after file: (e.g. file:hotpath-data)", ErrBadURI, s)
	}
	if strings.ContainsRune(dir, 0) {
		return URI{}, fmt.Errorf("%w %q: NUL byte in the directory", ErrBadURI, s)
	}
	return URI{Kind: File, Dir: dir}, nil
}

func parseKafka(s string) (URI, error) {
	rest := strings.TrimPrefix(s, "kafka://")
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		what := "query parameters"
		if rest[i] == '#' {
			what = "a fragment"
		}
		return URI{}, fmt.Errorf("%w %q: kafka:// takes no %s (%q)", ErrBadURI, s, what, rest[i:])
	}
	hosts, topic, ok := strings.Cut(rest, "/")
	if !ok || topic == "" {
		return URI{}, fmt.Errorf("%w %q: no topic (want kafka://HOST:PORT[,HOST:PORT…]/TOPIC)", ErrBadURI, s)
	}
	if err := checkTopic(topic); err != nil {
		return URI{}, fmt.Errorf("%w %q: %v", ErrBadURI, s, err)
	}
	if hosts == "" {
		return URI{}, fmt.Errorf("%w %q: no broker (want kafka://HOST:PORT[,HOST:PORT…]/TOPIC)", ErrBadURI, s)
	}
	brokers := strings.Split(hosts, ",")
	for _, b := range brokers {
		if err := checkBroker(b); err != nil {
			return URI{}, fmt.Errorf("%w %q: %v", ErrBadURI, s, err)
		}
	}
	return URI{Kind: Kafka, Brokers: brokers, Topic: topic}, nil
}

// checkTopic applies Kafka's rule for topic names.
func checkTopic(t string) error {
	if len(t) > 249 {
		return fmt.Errorf("topic is %d characters long (Kafka allows 249)", len(t))
	}
	if t == "." || t == ".." {
		return fmt.Errorf("topic %q is not allowed by Kafka", t)
	}
	for _, c := range []byte(t) {
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("topic %q: character %q not allowed (Kafka topics use a-z A-Z 0-9 . _ -)", t, c)
		}
	}
	return nil
}

// checkBroker accepts host:port with a DNS-like host or an IP ([v6] in
// brackets) and a port from 1 to 65535.
func checkBroker(b string) error {
	host, port, err := net.SplitHostPort(b)
	if err != nil {
		return fmt.Errorf("broker %q: want HOST:PORT", b)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return fmt.Errorf("broker %q: port %q is not a number from 1 to 65535", b, port)
	}
	if host == "" {
		return fmt.Errorf("broker %q: no host", b)
	}
	if strings.HasPrefix(b, "[") { // net.SplitHostPort took the brackets off
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return fmt.Errorf("broker %q: %q in brackets is not an IPv6 address", b, host)
		}
		return nil
	}
	for _, c := range []byte(host) {
		if !isAlnum(c) && c != '.' && c != '-' && c != '_' {
			return fmt.Errorf("broker %q: character %q not allowed in a host name", b, c)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Options carry what opening a sink needs besides its URI. The zero value is
// the defaults.
type Options struct {
	// Fsync is the file log's policy: "batch" (default, also for "") or
	// "never" (unsafe, see filelog.FsyncNever).
	Fsync string
	// SegmentBytes is the file log's segment size (0: filelog's default).
	SegmentBytes int64
	// KafkaDeliveryTimeout bounds a Kafka Append (0: kafkasink's default;
	// at least 1s).
	KafkaDeliveryTimeout time.Duration
	// Logger and Registerer are handed to the file log (nil: none). The
	// Kafka sink logs nothing of its own and has no metrics beyond the
	// batcher's.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Open parses uri and opens its sink: (nil, nil) for "off", meaning the
// ingest route is not mounted. The caller owns the sink and closes it after
// the Batcher writing to it. Errors: ErrBadURI for the text or a bad
// Options.Fsync, otherwise the sink's own (directory unusable or locked,
// brokers unreachable within ctx, topic missing).
func Open(ctx context.Context, uri string, o Options) (ingest.Sink, error) {
	u, err := Parse(uri)
	if err != nil {
		return nil, err
	}
	switch u.Kind {
	case File:
		policy := filelog.FsyncBatch
		if o.Fsync != "" {
			if policy, err = filelog.ParseFsync(o.Fsync); err != nil {
				return nil, fmt.Errorf("%w %q: %w", ErrBadURI, uri, err)
			}
		}
		l, err := filelog.Open(u.Dir, filelog.Options{
			SegmentBytes: o.SegmentBytes,
			Fsync:        policy,
			Logger:       o.Logger,
			Registerer:   o.Registerer,
		})
		if err != nil {
			return nil, err
		}
		return l, nil
	case Kafka:
		s, err := kafkasink.New(ctx, u.Brokers, u.Topic, kafkasink.WithDeliveryTimeout(o.KafkaDeliveryTimeout))
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, nil
}

// Read parses uri and calls fn for every stored event from offset from, for
// `hotpath ingest read`: filelog.ReadDir for a file sink (safe while a
// server writes the directory), kafkasink's Read (every partition, up to the
// end offsets at the call) for Kafka. "off" is an error wrapping ErrBadURI.
// fn's bytes are valid only during the call.
func Read(ctx context.Context, uri string, from int64, fn func(ingest.Position, []byte) error) error {
	u, err := Parse(uri)
	if err != nil {
		return err
	}
	switch u.Kind {
	case File:
		return filelog.ReadDir(ctx, u.Dir, from, fn)
	case Kafka:
		s, err := kafkasink.New(ctx, u.Brokers, u.Topic)
		if err != nil {
			return err
		}
		err = s.Read(ctx, from, fn)
		return errors.Join(err, s.Close())
	}
	return fmt.Errorf("%w %q: no sink, nothing to read", ErrBadURI, uri)
}
