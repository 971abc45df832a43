package filelog

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			if mf.GetType() != dto.MetricType_HISTOGRAM || len(mf.Metric) != 1 {
				t.Fatalf("%s: %v", name, mf)
			}
			return mf.Metric[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("%s not registered", name)
	return 0
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy     FsyncPolicy
		wantFsyncs uint64
	}{
		{FsyncBatch, 3},
		{FsyncNever, 0},
	}
	for _, tc := range cases {
		t.Run(tc.policy.String(), func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			dir := t.TempDir()
			l := openLog(t, dir, Options{Fsync: tc.policy, Registerer: reg})
			appendOK(t, l, batch("a", 16), 0)
			appendOK(t, l, batch("b", 16), 16)
			closeLog(t, l)
			// Reopening in the same process reuses the registered histograms.
			l = openLog(t, dir, Options{Fsync: tc.policy, Registerer: reg})
			appendOK(t, l, batch("c", 1), 32)
			closeLog(t, l)
			if got := histogramCount(t, reg, "hotpath_ingest_sink_write_seconds"); got != 3 {
				t.Fatalf("write histogram counted %d, want 3 (one per batch)", got)
			}
			if got := histogramCount(t, reg, "hotpath_ingest_fsync_seconds"); got != tc.wantFsyncs {
				t.Fatalf("fsync histogram counted %d, want %d", got, tc.wantFsyncs)
			}
		})
	}
}
