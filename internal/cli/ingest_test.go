package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hotpath-dev/hotpath/ingest/filelog"
	"github.com/hotpath-dev/hotpath/ingest/sinkuri"
)

// Bad ingest flags and environment values: exit 2, one line naming the flag.
func TestServeIngestFlagsRefused(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown sink scheme", []string{"--ingest-sink", "s3://bucket"}, nil, "ingest-sink"},
		{"kafka without topic", []string{"--ingest-sink", "kafka://127.0.0.1:9092"}, nil, "ingest-sink"},
		{"kafka bad port", []string{"--ingest-sink", "kafka://h:x/events"}, nil, "ingest-sink"},
		{"file without dir", []string{"--ingest-sink", "file:"}, nil, "ingest-sink"},
		{"sink from the environment", nil, map[string]string{"HOTPATH_INGEST_SINK": "nope"}, "ingest-sink"},
		{"batch size 0", []string{"--batch-size", "0"}, nil, "--batch-size"},
		{"negative batch size", []string{"--batch-size", "-1"}, nil, "batch-size"},
		{"batch size over the queue", []string{"--batch-size", "64", "--ingest-queue", "32"}, nil, "batch-size"},
		{"queue 0", []string{"--ingest-queue", "0"}, nil, "--ingest-queue"},
		{"max event 0", []string{"--ingest-max-event-bytes", "0"}, nil, "--ingest-max-event-bytes"},
		{"unknown fsync", []string{"--fsync", "always"}, nil, "fsync"},
		{"unknown format", []string{"--ingest-format", "yaml"}, nil, "ingest-format"},
		{"format from the environment", nil, map[string]string{"HOTPATH_INGEST_FORMAT": "JSON"}, "ingest-format"},
		{"bad batch wait", []string{"--batch-wait", "soon"}, nil, "batch-wait"},
		{"negative unready-after", []string{"--ingest-unready-after", "-1s"}, nil, "ingest-unready-after"},
		{"kafka delivery timeout under 1s", []string{"--kafka-delivery-timeout", "500ms"}, nil, "kafka-delivery-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			// --print-config: refused before anything is opened or bound.
			var out, errb bytes.Buffer
			code := Main(append([]string{"serve", "--print-config"}, tt.args...), &out, &errb)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", code, ExitUsage, errb.String())
			}
			if msg := errb.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tt.want) {
				t.Errorf("stderr %q: want one line naming %s", msg, tt.want)
			}
		})
	}
}

// --print-config shows every ingest flag with serve's defaults.
func TestServePrintConfigIngest(t *testing.T) {
	t.Setenv("HOTPATH_INGEST_SINK", "") // TestMain sets off; empty means off as well
	var out, errb bytes.Buffer
	if code := Main([]string{"serve", "--print-config", "--batch-size", "32"}, &out, &errb); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"ingest-sink off # HOTPATH_INGEST_SINK", "batch-size 32 # flag", "batch-wait 5ms # default",
		"ingest-queue 4096 # default", "ingest-max-event-bytes 65536 # default", "ingest-unready-after 5s # default", "fsync batch # default", "kafka-delivery-timeout 5s # default", "ingest-format raw # default"} {
		if !strings.Contains(normalize(out.String()), want) {
			t.Errorf("no line %q in:\n%s", want, out.String())
		}
	}
	// Without the variable: the flag's default, the embedded log.
	var fl bytes.Buffer
	if code := Main([]string{"serve", "--help"}, &fl, &errb); code != ExitOK || !strings.Contains(fl.String(), `--ingest-sink string`) ||
		!strings.Contains(fl.String(), `(default "file:hotpath-data")`) || !strings.Contains(fl.String(), "POST /ingest") {
		t.Errorf("serve --help lacks --ingest-sink's default or POST /ingest:\n%s", fl.String())
	}
}

// normalize joins each line's fields with one space.
func normalize(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

// fileLog makes a log in a temporary directory holding events.
func fileLog(t *testing.T, events ...string) string {
	t.Helper()
	dir := t.TempDir()
	l, err := filelog.Open(dir, filelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var evs [][]byte
	for _, e := range events {
		evs = append(evs, []byte(e))
	}
	if _, err := l.Append(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestIngestRead(t *testing.T) {
	dir := fileLog(t, `{"a":1}`, "<b> & c\n", "\xff\x00bin")
	tests := []struct {
		name string
		args []string
		code int
		out  string
		err  string
	}{
		{"every event, JSON strings and base64 for non-UTF-8", []string{"--sink", "file:" + dir}, ExitOK,
			`{"offset":0,"value":"{\"a\":1}"}` + "\n" +
				`{"offset":1,"value":"<b> & c\n"}` + "\n" +
				`{"offset":2,"value":"/wBiaW4=","encoding":"base64"}` + "\n", ""},
		{"from an offset", []string{"--sink", "file:" + dir, "--from", "2", "-o", "jsonl"}, ExitOK,
			`{"offset":2,"value":"/wBiaW4=","encoding":"base64"}` + "\n", ""},
		{"past the end prints nothing", []string{"--sink", "file:" + dir, "--from", "9"}, ExitOK, "", ""},
		{"negative from", []string{"--sink", "file:" + dir, "--from", "-1"}, ExitUsage, "", "--from"},
		{"unknown output", []string{"--sink", "file:" + dir, "-o", "csv"}, ExitUsage, "", "--output"},
		{"off has nothing", []string{"--sink", "off"}, ExitUsage, "", "off"},
		{"bad URI", []string{"--sink", "ftp://x"}, ExitUsage, "", "--sink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(append([]string{"ingest", "read"}, tt.args...), &out, &errb)
			if code != tt.code || out.String() != tt.out || !strings.Contains(errb.String(), tt.err) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out.String(), errb.String(), tt.code, tt.out, tt.err)
			}
		})
	}
}

func TestIngestStats(t *testing.T) {
	dir := fileLog(t, "one", "two", "three")
	var out, errb bytes.Buffer
	if code := Main([]string{"ingest", "stats", "--sink", "file:" + dir}, &out, &errb); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	text := normalize(out.String())
	for _, want := range []string{"segment first offset records bytes tail bytes", "00000000000000000000", dir + ": 1 segment, 3 records,", "next offset 3"} {
		if !strings.Contains(text, want) {
			t.Errorf("stats lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := Main([]string{"ingest", "stats", "--sink", "file:" + dir, "-o", "json"}, &out, &errb); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var st filelog.DirStats
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.Records != 3 || st.NextOffset != 3 || len(st.Segments) != 1 {
		t.Errorf("stats -o json: %+v, %v", st, err)
	}
	notDir := filepath.Join(dir, "00000000000000000000.log")
	for _, tc := range []struct {
		cmd  string
		args []string
		want string
	}{
		{"stats", []string{"--sink", "kafka://127.0.0.1:9092/events"}, "file logs"},
		{"stats", []string{"--sink", "file:" + dir, "-o", "xml"}, "--output"},
		{"stats", []string{"--sink", "file:" + dir + "/nonexistent"}, "no such directory"},
		{"read", []string{"--sink", "file:" + dir + "/nonexistent"}, "no such directory"},
		{"stats", []string{"--sink", "file:" + notDir}, "not a directory"},
	} {
		errb.Reset()
		if code := Main(append([]string{"ingest", tc.cmd}, tc.args...), &out, &errb); code != ExitUsage || !strings.Contains(errb.String(), tc.want) || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%s %v: exit %d, stderr %q; want %d and one line saying %q", tc.cmd, tc.args, code, errb.String(), ExitUsage, tc.want)
		}
	}
}

// Kafka: every partition is read, and each line names its partition.
func TestIngestReadKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uri := "kafka://" + strings.Join(c.ListenAddrs(), ",") + "/events"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := sinkuri.Open(ctx, uri, sinkuri.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, [][]byte{[]byte("k1"), []byte("k2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"ingest", "read", "--sink", uri}, &out, &errb); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := `{"partition":0,"offset":0,"value":"k1"}` + "\n" + `{"partition":0,"offset":1,"value":"k2"}` + "\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
