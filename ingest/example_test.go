package ingest_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/ingest/filelog"
)

// A Batcher in front of the file log: each Submit returns once its event is
// in an fsynced batch.
func Example() {
	dir, err := os.MkdirTemp("", "ingest-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sink, err := filelog.Open(dir, filelog.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close() // after the batcher: the caller owns the sink

	b, err := ingest.New(sink, ingest.Config{}) // 16 events or 5 ms per batch
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range []string{"first", "second"} {
		pos, err := b.Submit(ctx, []byte(e))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %s", e, b.AppendAccepted(nil, pos))
	}
	if err := b.Close(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// first {"offset":0}
	// second {"offset":1}
}
