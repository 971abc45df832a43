package sinkuri_test

import (
	"fmt"

	"github.com/hotpath-dev/hotpath/ingest/sinkuri"
)

func ExampleParse() {
	for _, s := range []string{
		"file:hotpath-data",
		"kafka://k1:9092,k2:9092/events",
		"off",
		"kafka://k1/events",
	} {
		u, err := sinkuri.Parse(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s dir=%q brokers=%q topic=%q\n", u.Kind, u.Dir, u.Brokers, u.Topic)
	}
	// Output:
	// file dir="hotpath-data" brokers=[] topic=""
	// kafka dir="" brokers=["k1:9092" "k2:9092"] topic="events"
	// off dir="" brokers=[] topic=""
	// bad ingest sink URI "kafka://k1/events": broker "k1": want HOST:PORT
}
