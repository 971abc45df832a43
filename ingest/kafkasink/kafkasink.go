// Package kafkasink is the ingest.Sink that writes to Kafka through franz-go
// (kgo): an idempotent producer with acks=all, one ProduceSync per batch, and
// an acknowledgement only once the brokers have acknowledged every record.
// It is how hotpath scales past one machine: many replicas write into one
// Kafka cluster.
package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hotpath-dev/hotpath/ingest"
)

// DefaultDeliveryTimeout bounds how long a record may wait to be
// acknowledged before Append fails: about UnreadyAfter's default, so a dead
// cluster turns readiness false within a few seconds of the first 503s.
const DefaultDeliveryTimeout = 5 * time.Second

// The client's buffer: far above one batch (Config.BatchSize defaults to
// 16, events to 64 KiB), so a batch never waits for room.
const (
	maxBufferedRecords = 10000
	maxBufferedBytes   = 64 << 20
)

// Option configures New.
type Option func(*config)

type config struct {
	deliveryTimeout time.Duration
	linger          time.Duration
	clientOpts      []kgo.Opt
}

// defaultLinger: ProduceSync lifts the linger of the partitions it fills,
// so a batch is sent at once and whole; the linger holds only records it
// could not lift it for (the first batch to a topic whose partitions the
// producer has not loaded yet), and keeps a batch whole if buffering it
// is slow on a loaded machine.
const defaultLinger = 50 * time.Millisecond

// WithDeliveryTimeout sets kgo's RecordDeliveryTimeout (default
// DefaultDeliveryTimeout); d ≤ 0 keeps the default. kgo refuses less than
// one second (New returns its error).
func WithDeliveryTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.deliveryTimeout = d
		}
	}
}

// WithClientOptions adds kgo options (TLS, SASL, a logger, …), applied after
// the sink's own; options that undo acks=all or idempotency void the
// durability promise.
func WithClientOptions(opts ...kgo.Opt) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

// Sink writes batches to one topic. Append must be called by one goroutine
// at a time (the Batcher does); Read and Ping may run concurrently with it.
type Sink struct {
	cl    *kgo.Client
	adm   *kadm.Client
	topic string
	seeds []string
	opts  []kgo.Opt // the client's options, for Read's consumer

	deliveryTimeout time.Duration
	inflight        chan struct{} // one slot per ProduceSync running, abandoned ones included
}

// New connects to the cluster at seeds (host:port) and checks, within ctx,
// that a broker answers and that topic exists (hotpath does not create
// topics: partitions and replication are the operator's choice). It returns
// an error wrapping the cause when either fails.
func New(ctx context.Context, seeds []string, topic string, opts ...Option) (*Sink, error) {
	if len(seeds) == 0 {
		return nil, errors.New("kafkasink: no seed brokers")
	}
	if topic == "" {
		return nil, errors.New("kafkasink: empty topic")
	}
	c := config{deliveryTimeout: DefaultDeliveryTimeout, linger: defaultLinger}
	for _, o := range opts {
		o(&c)
	}
	common := append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, c.clientOpts...)
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence (kgo's default) needs it too
		kgo.ProducerLinger(c.linger),
		kgo.MaxBufferedRecords(maxBufferedRecords),
		kgo.MaxBufferedBytes(maxBufferedBytes),
		kgo.RecordDeliveryTimeout(c.deliveryTimeout),
		kgo.UnknownTopicRetries(1), // a deleted topic fails fast instead of retrying
		// kgo refreshes metadata at most this often (default 5s); after an
		// outage the first produce waits for a refresh, so this bounds how
		// long the sink stays failed once the cluster is back.
		kgo.MetadataMinAge(time.Second),
	}, c.clientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafkasink: %w", err)
	}
	seeds = slices.Clone(seeds) // kept for error messages; the caller may reuse its slice
	s := &Sink{cl: cl, adm: kadm.NewClient(cl), topic: topic, seeds: seeds, opts: common,
		deliveryTimeout: c.deliveryTimeout, inflight: make(chan struct{}, maxUnanswered)}
	if err := s.checkTopic(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return s, nil
}

func (s *Sink) checkTopic(ctx context.Context) error {
	topics, err := s.adm.ListTopics(ctx, s.topic)
	if err != nil {
		return fmt.Errorf("kafkasink: reaching brokers %v: %w", s.seeds, err)
	}
	td, ok := topics[s.topic]
	if !ok {
		return fmt.Errorf("kafkasink: topic %q: not in the cluster's metadata", s.topic)
	}
	if td.Err != nil {
		return fmt.Errorf("kafkasink: topic %q: %w", s.topic, td.Err)
	}
	return nil
}

// Partitioned reports true: Positions name a partition (ingest.Partitioner).
func (*Sink) Partitioned() bool { return true }

// SinkKind returns "kafka": the batch spans are PRODUCER spans with the
// messaging attributes (ingest.Kinder).
func (*Sink) SinkKind() string { return "kafka" }

// DeliveryTimeout returns how long an Append waits for the cluster's
// acknowledgement before failing (WithDeliveryTimeout).
func (s *Sink) DeliveryTimeout() time.Duration { return s.deliveryTimeout }

// SinkDestination returns the topic: the batch spans'
// messaging.destination.name (ingest.Destinationer).
func (s *Sink) SinkDestination() string { return s.topic }

// Ping asks the cluster for the topic's metadata and fails unless it is
// served without error (ingest.Pinger). It proves the cluster answers for
// the topic, not that a produce with acks=all would succeed.
func (s *Sink) Ping(ctx context.Context) error { return s.checkTopic(ctx) }

// Append produces events as records (no key, value = a copy of the event)
// with one ProduceSync and returns once every record is acknowledged by all
// in-sync replicas, with each record's partition and offset.
//
// "One request": ProduceSync buffers the whole batch, then sends at once
// (it lifts the linger of the partitions it filled), so the batch goes out
// as one produce request per broker leading a partition the records landed
// on. kgo's default sticky partitioner puts the unkeyed records of one
// Append on one partition: usually that is one request
// (TestOneRequestPerBatch). A batch over kgo's ProducerBatchMaxBytes (1 MB)
// is split across requests to the same partition.
//
// The first batch to the topic waits out the linger (50 ms) while the
// producer learns the topic's partitions.
//
// Append returns within the delivery timeout plus a second, or when ctx
// ends, whichever is first. On error no Position is returned, but records of
// the batch may be stored: an idempotent producer cannot drop a request that
// was sent and never answered (a broker that died mid-request), so such
// records stay with the client, which delivers them when the broker is back.
// Delivery is at least once for refused events; an acknowledged one is never
// lost. That is why the records own a copy of the events: Append does not
// keep the caller's bytes after it returns. At most maxUnanswered (4)
// batches may be left with the client that way; while they are, Append
// fails at once (wrapping ErrNotAcknowledged) instead of piling up more.
func (s *Sink) Append(ctx context.Context, events [][]byte) ([]ingest.Position, error) {
	n := len(events)
	if n == 0 {
		return nil, nil
	}
	select {
	case s.inflight <- struct{}{}:
	default:
		return nil, fmt.Errorf("kafkasink: %w: %d earlier batches to %q are still unanswered", ErrNotAcknowledged, maxUnanswered, s.topic)
	}
	total := 0
	for _, e := range events {
		total += len(e)
	}
	// The values, records and pointers belong to this call: the client may
	// hold them after a give-up.
	values := make([]byte, 0, total)
	recs := make([]kgo.Record, n)
	ptrs := make([]*kgo.Record, n)
	for i, e := range events {
		from := len(values)
		values = append(values, e...)
		recs[i].Value = values[from:len(values):len(values)]
		ptrs[i] = &recs[i]
	}
	done := make(chan kgo.ProduceResults, 1)
	go func() {
		res := s.cl.ProduceSync(ctx, ptrs...)
		<-s.inflight
		done <- res
	}()
	timer := time.NewTimer(s.deliveryTimeout + time.Second)
	defer timer.Stop()
	select {
	case res := <-done:
		if err := res.FirstErr(); err != nil {
			return nil, fmt.Errorf("kafkasink: producing %d records to %q: %w", n, s.topic, err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("kafkasink: producing %d records to %q: not acknowledged (they may still be stored): %w", n, s.topic, ctx.Err())
	case <-timer.C:
		return nil, fmt.Errorf("kafkasink: producing %d records to %q: %w after %v (they may still be stored)", n, s.topic, ErrNotAcknowledged, s.deliveryTimeout+time.Second)
	}
	pos := make([]ingest.Position, n)
	for i := range recs {
		pos[i] = ingest.Position{Partition: recs[i].Partition, Offset: recs[i].Offset}
	}
	return pos, nil
}

// ErrNotAcknowledged is wrapped by Append's error when the brokers have not
// answered for the records within the delivery timeout plus a second, or
// when earlier batches are still unanswered.
var ErrNotAcknowledged = errors.New("not acknowledged")

// closeFlush bounds Close's wait for records still held by the client.
const closeFlush = 5 * time.Second

// maxUnanswered is how many batches Append may leave with the client,
// unanswered, before it refuses more (see Append).
const maxUnanswered = 4

// Close waits up to closeFlush (5 s) for records the client still holds
// (none, unless Append gave up on a batch the brokers have not answered),
// then closes the client, which fails what is left, and returns an error
// if anything was left. Append must not be called after.
func (s *Sink) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeFlush)
	defer cancel()
	err := s.cl.Flush(ctx)
	s.cl.Close()
	if err != nil {
		return fmt.Errorf("kafkasink: flushing on close: %w", err)
	}
	return nil
}
