package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/hotpath-dev/hotpath/ingest"
)

// FuzzEventLine: every event, whatever its bytes, comes back exactly from
// its `ingest read` line: one line of JSON whose value is the event as a
// string when it is UTF-8, else its base64 with "encoding":"base64".
func FuzzEventLine(f *testing.F) {
	for _, seed := range []string{"", "plain", `{"json":"in json"}`, "<b>&amp;</b>", "\xff\xfe", "a\x00b", "\u2028\u2029", "é\xc3", "\n\r\t"} {
		f.Add([]byte(seed), int64(7), int32(3), true)
	}
	f.Fuzz(func(t *testing.T, v []byte, off int64, part int32, partitioned bool) {
		line, err := appendEventLine([]byte("keep"), ingest.Position{Partition: part, Offset: off}, v, partitioned)
		if err != nil {
			t.Fatal(err)
		}
		line, ok := bytes.CutPrefix(line, []byte("keep"))
		if !ok || bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("not one line after dst: %q", line)
		}
		var got struct {
			Partition *int32 `json:"partition"`
			Offset    int64  `json:"offset"`
			Value     string `json:"value"`
			Encoding  string `json:"encoding"`
		}
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		value := []byte(got.Value)
		switch got.Encoding {
		case "":
			if !utf8.Valid(v) {
				t.Fatalf("non-UTF-8 event printed as a string: %q", line)
			}
		case "base64":
			if value, err = base64.StdEncoding.DecodeString(got.Value); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("encoding %q", got.Encoding)
		}
		if !bytes.Equal(value, v) || got.Offset != off || (got.Partition != nil) != partitioned || (partitioned && *got.Partition != part) {
			t.Fatalf("event %q at %d/%d (partitioned %v) came back as %+v from %q", v, part, off, partitioned, got, line)
		}
	})
}
