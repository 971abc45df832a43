package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/hotpath-dev/hotpath/ingest"
	"github.com/hotpath-dev/hotpath/ingest/filelog"
	"github.com/hotpath-dev/hotpath/ingest/sinkuri"
)

func init() { register(newIngestCmd) }

func newIngestCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Read and inspect what POST /ingest stored (file log or Kafka topic)",
		Long: `ingest reads the events hotpath serve stored through POST /ingest (and gRPC
IngestService): "ingest read" prints them, "ingest stats" sums up a file log.
Both work on a directory a running server is writing (they take no lock and
write nothing). --sink takes the URIs of serve's --ingest-sink.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newIngestReadCmd(), newIngestStatsCmd())
	return cmd
}

func newIngestReadCmd() *cobra.Command {
	var sink, output string
	var from int64
	cmd := &cobra.Command{
		Use:   "read [flags]",
		Short: "Print stored events, one JSON object per line",
		Long: `read prints every stored event from offset --from on, one JSON object per line:

  {"offset":N,"value":"<the event as a JSON string>"}

For a Kafka sink each line also has "partition" (before "offset"), and every
partition is read from --from up to its end at the start of the call. An event
that is not valid UTF-8 cannot be a JSON string without loss (JSON escaping
would replace its bytes), so it is printed as standard base64 with a field that
says so:

  {"offset":N,"value":"<base64 of the event>","encoding":"base64"}

A file log is read up to its last complete record: a record being written, or a
crashed writer's torn tail, is not printed. A corrupt sealed segment is an
error (exit 1).`,
		Example: `  hotpath ingest read                                   # ./hotpath-data, serve's default
  hotpath ingest read --sink file:/data --from 1000
  hotpath ingest read --sink kafka://127.0.0.1:9092/events | jq -r .value`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "jsonl" {
				return UsageErrorf("--output %q: want jsonl", output)
			}
			if from < 0 {
				return UsageErrorf("--from %d: negative", from)
			}
			u, err := sinkuri.Parse(sink)
			if err != nil {
				return UsageErrorf("--sink: %v", err)
			}
			if u.Kind == sinkuri.Off {
				return UsageErrorf("--sink off: no sink to read")
			}
			if err := logDirExists(u); err != nil {
				return err
			}
			return readEvents(cmd.Context(), cmd.OutOrStdout(), sink, from, u.Kind == sinkuri.Kafka)
		},
	}
	f := cmd.Flags()
	f.StringVar(&sink, "sink", defaultIngestSink, "the sink to read: file:DIR or kafka://HOST:PORT[,HOST:PORT]/TOPIC")
	f.Int64Var(&from, "from", 0, "first offset to print (per partition for Kafka)")
	f.StringVarP(&output, "output", "o", "jsonl", "output format: jsonl")
	return cmd
}

// eventLine is one line of `ingest read`.
type eventLine struct {
	Partition *int32 `json:"partition,omitempty"` // Kafka only
	Offset    int64  `json:"offset"`
	Value     string `json:"value"`
	Encoding  string `json:"encoding,omitempty"` // "base64" when the event is not UTF-8
}

// appendEventLine appends the JSON line of one event to dst (without
// HTML escaping: the values are data, not markup).
func appendEventLine(dst []byte, p ingest.Position, v []byte, partitioned bool) ([]byte, error) {
	l := eventLine{Offset: p.Offset}
	if partitioned {
		l.Partition = &p.Partition
	}
	if utf8.Valid(v) {
		l.Value = string(v)
	} else {
		l.Value, l.Encoding = base64.StdEncoding.EncodeToString(v), "base64"
	}
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(l) // ends the line with '\n'
	return buf.Bytes(), err
}

// readEvents streams the sink's events to w as JSON lines.
func readEvents(ctx context.Context, w io.Writer, uri string, from int64, partitioned bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	bw := bufio.NewWriter(w)
	var line []byte
	err := sinkuri.Read(ctx, uri, from, func(p ingest.Position, v []byte) error {
		var err error
		if line, err = appendEventLine(line[:0], p, v, partitioned); err != nil {
			return err
		}
		_, err = bw.Write(line)
		return err
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if errors.Is(err, context.Canceled) {
		return nil // Ctrl-C: what was printed stands
	}
	return err
}

func newIngestStatsCmd() *cobra.Command {
	var sink, output string
	cmd := &cobra.Command{
		Use:   "stats [flags]",
		Short: "Sum up a file log: segments, records, bytes",
		Long: `stats reads every segment of a file log (checking every record's CRC) and
prints, per segment, its first offset, valid records, size and the bytes past
its last valid record (only the last segment can have them: a write in
progress, or a crashed writer's torn tail that the next serve cuts off), then
the totals and the next offset. Kafka topics: use Kafka's own tools.`,
		Example: `  hotpath ingest stats
  hotpath ingest stats --sink file:/data -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return UsageErrorf("--output %q: want text or json", output)
			}
			u, err := sinkuri.Parse(sink)
			if err != nil {
				return UsageErrorf("--sink: %v", err)
			}
			if u.Kind != sinkuri.File {
				return UsageErrorf("--sink %s: stats reads file logs (file:DIR) only", sink)
			}
			if err := logDirExists(u); err != nil {
				return err
			}
			st, err := filelog.Stats(u.Dir)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return writeStats(cmd.OutOrStdout(), st)
		},
	}
	f := cmd.Flags()
	f.StringVar(&sink, "sink", defaultIngestSink, "the file log to read: file:DIR")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// logDirExists refuses (exit 2) a file:DIR sink whose DIR is not an
// existing directory: a mistyped path, not a log that cannot be read (that
// one exits 1 with the log's error). Other sinks pass.
func logDirExists(u sinkuri.URI) error {
	if u.Kind != sinkuri.File {
		return nil
	}
	fi, err := os.Stat(u.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return UsageErrorf("--sink file:%s: no such directory", u.Dir)
	case err == nil && !fi.IsDir():
		return UsageErrorf("--sink file:%s: not a directory", u.Dir)
	}
	return nil // other errors (permissions) are the log's to report
}

// writeStats prints st as a table and a totals line.
func writeStats(w io.Writer, st filelog.DirStats) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "segment\tfirst offset\trecords\tbytes\ttail bytes\t\n")
	for _, s := range st.Segments {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", s.Name, s.FirstOffset, s.Records, s.Bytes, s.TailBytes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s: %s, %s, %s, next offset %d\n",
		st.Dir, plural(len(st.Segments), "segment"), plural(int(st.Records), "record"), plural(int(st.Bytes), "byte"), st.NextOffset)
	return err
}

// plural is "1 segment", "3 segments".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
