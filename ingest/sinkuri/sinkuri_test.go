package sinkuri

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/ingest/filelog"
	"github.com/hotpath-dev/hotpath/ingest/kafkasink"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want URI
		err  string // substring of the error; "" = accepted
	}{
		{"off", "off", URI{Kind: Off}, ""},
		{"relative dir (the default)", "file:hotpath-data", URI{Kind: File, Dir: "hotpath-data"}, ""},
		{"absolute dir", "file:/var/lib/hotpath", URI{Kind: File, Dir: "/var/lib/hotpath"}, ""},
		{"URL form of an absolute dir", "file:///var/lib/hotpath", URI{Kind: File, Dir: "/var/lib/hotpath"}, ""},
		{"dot-relative dir", "file:./data/../x", URI{Kind: File, Dir: "./data/../x"}, ""},
		{"one broker", "kafka://localhost:9092/events", URI{Kind: Kafka, Brokers: []string{"localhost:9092"}, Topic: "events"}, ""},
		{"several brokers", "kafka://k1:9092,k2.svc:9093,10.0.0.1:9094/my_topic.v1-x",
			URI{Kind: Kafka, Brokers: []string{"k1:9092", "k2.svc:9093", "10.0.0.1:9094"}, Topic: "my_topic.v1-x"}, ""},
		{"IPv6 broker", "kafka://[::1]:9092/t", URI{Kind: Kafka, Brokers: []string{"[::1]:9092"}, Topic: "t"}, ""},

		{"empty", "", URI{}, "empty"},
		{"file without dir", "file:", URI{}, "no directory"},
		{"file URL with a host", "file://host/dir", URI{}, "another host"},
		{"file URL with nothing", "file://", URI{}, "another host"},
		{"unknown scheme", "s3://bucket", URI{}, "unknown kind"},
		{"bare path", "/var/lib/hotpath", URI{}, "unknown kind"},
		{"Off in capitals", "OFF", URI{}, "unknown kind"},
		{"kafka without slashes", "kafka:localhost:9092/t", URI{}, "unknown kind"},
		{"kafka without topic", "kafka://localhost:9092", URI{}, "no topic"},
		{"kafka with empty topic", "kafka://localhost:9092/", URI{}, "no topic"},
		{"kafka without broker", "kafka:///t", URI{}, "no broker"},
		{"kafka broker without port", "kafka://localhost/t", URI{}, "want HOST:PORT"},
		{"kafka port zero", "kafka://h:0/t", URI{}, "port"},
		{"kafka port too big", "kafka://h:65536/t", URI{}, "port"},
		{"kafka port with sign", "kafka://h:+9/t", URI{}, "port"},
		{"kafka empty host", "kafka://:9092/t", URI{}, "no host"},
		{"kafka empty broker in list", "kafka://h:1,,k:2/t", URI{}, "want HOST:PORT"},
		{"kafka trailing comma", "kafka://h:1,/t", URI{}, "want HOST:PORT"},
		{"kafka bad host char", "kafka://h@x:1/t", URI{}, "not allowed in a host"},
		{"kafka IPv4 in brackets", "kafka://[10.0.0.1]:1/t", URI{}, "not an IPv6"},
		{"kafka unknown query parameter", "kafka://h:1/t?acks=1", URI{}, "no query parameters"},
		{"kafka fragment", "kafka://h:1/t#x", URI{}, "fragment"},
		{"kafka topic with slash", "kafka://h:1/a/b", URI{}, "not allowed"},
		{"kafka topic dot", "kafka://h:1/..", URI{}, "not allowed by Kafka"},
		{"kafka topic too long", "kafka://h:1/" + strings.Repeat("x", 250), URI{}, "249"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if tt.err != "" {
				if !errors.Is(err, ErrBadURI) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse(%q) = %+v, %v; want ErrBadURI mentioning %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			back, err := Parse(got.String())
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Fatalf("round trip through %q = %+v, %v", got.String(), back, err)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	for k, want := range map[Kind]string{Off: "off", File: "file", Kafka: "kafka", 7: "Kind(7)"} {
		if k.String() != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), k.String(), want)
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts round-trips through
// String to the same kind and fields, with the fields its kind needs.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"off", "file:data", "file:///abs", "file://", "file:////x", "kafka://h:1/t",
		"kafka://a:1,b:2/t", "kafka://[::1]:9092/t", "kafka://h:1/t?x=1", "kafka:///t", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrBadURI) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrBadURI", s, err)
			}
			return
		}
		switch u.Kind {
		case File:
			if u.Dir == "" {
				t.Fatalf("Parse(%q) accepted an empty dir", s)
			}
		case Kafka:
			if u.Topic == "" || len(u.Brokers) == 0 {
				t.Fatalf("Parse(%q) = %+v: missing topic or brokers", s, u)
			}
		}
		back, err := Parse(u.String())
		if err != nil || !reflect.DeepEqual(back, u) {
			t.Fatalf("Parse(%q) = %+v; its String %q parses to %+v, %v", s, u, u.String(), back, err)
		}
	})
}

func TestOpenOff(t *testing.T) {
	t.Parallel()
	s, err := Open(context.Background(), "off", Options{})
	if s != nil || err != nil {
		t.Fatalf("Open(off) = %v, %v; want nil, nil", s, err)
	}
	if err := Read(context.Background(), "off", 0, nil); !errors.Is(err, ErrBadURI) {
		t.Fatalf("Read(off) = %v, want ErrBadURI", err)
	}
	if _, err := Open(context.Background(), "nope", Options{}); !errors.Is(err, ErrBadURI) {
		t.Fatalf("Open(nope) = %v, want ErrBadURI", err)
	}
}

func appendEvents(t *testing.T, s ingest.Sink, es ...string) []ingest.Position {
	t.Helper()
	bs := make([][]byte, len(es))
	for i, e := range es {
		bs[i] = []byte(e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pos, err := s.Append(ctx, bs)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

func readURI(t *testing.T, uri string, from int64) map[ingest.Position]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := map[ingest.Position]string{}
	if err := Read(ctx, uri, from, func(p ingest.Position, v []byte) error {
		got[p] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestOpenFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "log")
	uri := "file:" + dir
	s, err := Open(context.Background(), uri, Options{Fsync: "never", SegmentBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*filelog.Log); !ok {
		t.Fatalf("Open(%s) = %T, want *filelog.Log", uri, s)
	}
	appendEvents(t, s, "a", "b", "c")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := readURI(t, uri, 1)
	want := map[ingest.Position]string{{Offset: 1}: "b", {Offset: 2}: "c"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Read(%s, 1) = %v, want %v", uri, got, want)
	}
	if _, err := Open(context.Background(), uri, Options{Fsync: "sometimes"}); !errors.Is(err, ErrBadURI) {
		t.Fatalf("bad fsync policy: %v, want ErrBadURI", err)
	}
}

func TestOpenKafka(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uri := fmt.Sprintf("kafka://%s/events", strings.Join(c.ListenAddrs(), ","))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Open(ctx, uri, Options{KafkaDeliveryTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*kafkasink.Sink); !ok {
		t.Fatalf("Open(%s) = %T, want *kafkasink.Sink", uri, s)
	}
	pos := appendEvents(t, s, "x", "y")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[ingest.Position]string{pos[0]: "x", pos[1]: "y"}
	if got := readURI(t, uri, 0); !reflect.DeepEqual(got, want) {
		t.Fatalf("Read(%s) = %v, want %v", uri, got, want)
	}
	if _, err := Open(ctx, strings.Replace(uri, "/events", "/missing", 1), Options{}); err == nil || errors.Is(err, ErrBadURI) {
		t.Fatalf("missing topic: %v, want the sink's error", err)
	}
}
