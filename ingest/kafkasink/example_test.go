package kafkasink_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/ingest/kafkasink"
)

// The Kafka sink behind a Batcher; an in-process kfake cluster stands in
// for a real one (in production: the brokers of kafka://HOST:PORT/TOPIC).
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sink, err := kafkasink.New(ctx, cluster.ListenAddrs(), "events")
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close() // after the batcher

	b, err := ingest.New(sink, ingest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	pos, err := b.Submit(ctx, []byte(`{"user":42}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", b.AppendAccepted(nil, pos)) // the 202 body
	if err := b.Close(ctx); err != nil {
		log.Fatal(err)
	}

	// What `hotpath ingest read` prints comes from Read.
	err = sink.Read(ctx, 0, func(p ingest.Position, v []byte) error {
		fmt.Printf("partition %d offset %d: %s\n", p.Partition, p.Offset, v)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// {"partition":0,"offset":0}
	// partition 0 offset 0: {"user":42}
}
