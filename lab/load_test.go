package lab

import (
	"strings"
	"testing"
)

// abOutput is the shape of ApacheBench 2.3's report (numbers made up).
const abOutput = `This is ApacheBench, Version 2.3 <$Revision: 1903618 $>
Server Software:
Server Hostname:        127.0.0.1
Document Path:          /time
Concurrency Level:      500
Time taken for tests:   1.234 seconds
Complete requests:      10000
Failed requests:        3
   (Connect: 0, Receive: 0, Length: 3, Exceptions: 0)
Non-2xx responses:      2
Requests per second:    8103.72 [#/sec] (mean)
Time per request:       61.700 [ms] (mean)

Percentage of the requests served within a certain time (ms)
  50%     58
  66%     60
  90%     70
  99%    101
 100%    130 (longest request)
`

func TestParseAB(t *testing.T) {
	r, err := parseAB([]byte(abOutput))
	if err != nil {
		t.Fatal(err)
	}
	want := abResult{RPS: 8103.72, Failed: 3, Non2xx: 2, P50Ms: 58, P99Ms: 101}
	if r != want {
		t.Fatalf("parseAB = %+v, want %+v", r, want)
	}
	if _, err := parseAB([]byte(strings.Replace(abOutput, "Requests per second", "Requests/s", 1))); err == nil {
		t.Fatal("a report without the rate parsed")
	}
}

func FuzzParseAB(f *testing.F) {
	f.Add([]byte(abOutput))
	f.Add([]byte("Requests per second: 1e999\n"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseAB(b) })
}
