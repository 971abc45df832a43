package filelog_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/ingest/filelog"
)

func Example() {
	tmp, err := os.MkdirTemp("", "filelog-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "hotpath-data")

	l, err := filelog.Open(dir, filelog.Options{}) // fsync per batch, 64 MiB segments
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	pos, err := l.Append(ctx, [][]byte{[]byte(`{"user":1}`), []byte(`{"user":2}`)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored at", pos[0].Offset, pos[1].Offset)
	if err := l.Close(); err != nil {
		log.Fatal(err)
	}

	// Read-only, without the lock: what `hotpath ingest read` does.
	err = filelog.ReadDir(ctx, dir, 1, func(p ingest.Position, event []byte) error {
		fmt.Printf("%d: %s\n", p.Offset, event)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	st, err := filelog.Stats(dir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(st.Segments), "segment,", st.Records, "records, next offset", st.NextOffset)
	// Output:
	// stored at 0 1
	// 1: {"user":2}
	// 1 segment, 2 records, next offset 2
}
