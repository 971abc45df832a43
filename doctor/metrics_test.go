package doctor

import "testing"

func TestParseProm(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    promFigures
		wantErr bool
	}{
		{"process collector", "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1.2e+07\n" +
			"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3.5\n",
			promFigures{RSS: 1.2e7, CPUSeconds: 3.5, HaveRSS: true, HaveCPU: true}, false},
		{"untyped values are read", "process_resident_memory_bytes 42\n", promFigures{RSS: 42, HaveRSS: true}, false},
		{"no process collector", "# TYPE go_goroutines gauge\ngo_goroutines 7\n", promFigures{}, false},
		{"labelled series are ambiguous", "process_cpu_seconds_total{a=\"1\"} 1\nprocess_cpu_seconds_total{a=\"2\"} 2\n", promFigures{}, false},
		{"an HTML page is not Prometheus", "<html><body>hi</body></html>\n", promFigures{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProm([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseProm = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// FuzzParseProm checks that no page makes the figure extraction panic.
func FuzzParseProm(f *testing.F) {
	f.Add([]byte("process_resident_memory_bytes 1\nprocess_cpu_seconds_total 2\n"))
	f.Add([]byte("# TYPE x histogram\nx_bucket{le=\"+Inf\"} 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := parseProm(data)
		if err != nil && (pf.HaveRSS || pf.HaveCPU) {
			t.Fatalf("figures with an error: %+v", pf)
		}
	})
}
