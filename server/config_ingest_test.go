package server

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hotpath-dev/hotpath/ingest/kafkasink"
)

// The Ingest* fields: defaults (the seed's batch size and wait; off for a
// zero Config, so a library user writes no files unasked) and every
// refusal naming its flag.
func TestIngestConfig(t *testing.T) {
	d := Config{}.WithDefaults()
	if d.IngestSink != IngestOff || d.IngestBatchSize != 16 || d.IngestBatchWait != 5*time.Millisecond ||
		d.IngestQueue != 4096 || d.IngestMaxEventBytes != 64<<10 || d.IngestUnreadyAfter != 5*time.Second || d.IngestFsync != "batch" ||
		d.IngestFormat != "raw" || d.IngestKafkaDeliveryTimeout != kafkasink.DefaultDeliveryTimeout {
		t.Errorf("defaults: %+v", d)
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" = valid
	}{
		{"file sink", Config{IngestSink: "file:/tmp/x"}, ""},
		{"kafka sink", Config{IngestSink: "kafka://127.0.0.1:9092/events"}, ""},
		{"off", Config{IngestSink: "off"}, ""},
		{"fsync never is allowed (documented unsafe)", Config{IngestFsync: "never"}, ""},
		{"batch equal to the queue", Config{IngestBatchSize: 8, IngestQueue: 8}, ""},
		{"kafka delivery timeout 1s", Config{IngestKafkaDeliveryTimeout: time.Second}, ""},
		{"unknown scheme", Config{IngestSink: "s3://bucket"}, "ingest-sink"},
		{"bare path is not a URI", Config{IngestSink: "/var/data"}, "ingest-sink"},
		{"file without a directory", Config{IngestSink: "file:"}, "ingest-sink"},
		{"batch larger than the queue", Config{IngestBatchSize: 32, IngestQueue: 16}, "batch-size"},
		{"batch larger than the default queue", Config{IngestBatchSize: 5000}, "batch-size"},
		{"negative batch size", Config{IngestBatchSize: -1}, "batch-size"},
		{"negative queue", Config{IngestQueue: -1}, "ingest-queue"},
		{"negative max event", Config{IngestMaxEventBytes: -1}, "ingest-max-event-bytes"},
		{"negative batch wait", Config{IngestBatchWait: -time.Millisecond}, "batch-wait"},
		{"negative unready-after", Config{IngestUnreadyAfter: -time.Second}, "ingest-unready-after"},
		{"kafka delivery timeout under 1s", Config{IngestKafkaDeliveryTimeout: 999 * time.Millisecond}, "kafka-delivery-timeout"},
		{"unknown fsync", Config{IngestFsync: "always"}, "fsync"},
		{"json format", Config{IngestFormat: "json"}, ""},
		{"unknown format", Config{IngestFormat: "xml"}, "ingest-format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig naming %q", err, tt.wantErr)
			}
		})
	}
}
