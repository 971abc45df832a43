package doctor

import (
	"bytes"
	"fmt"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Many Go services (hotpath's admin listener among them) serve Prometheus
// metrics beside pprof. When they do, the standard process collector gives
// two figures MemStats lacks: resident memory and the process's CPU time
// over the window. The text is parsed by the Prometheus library itself.

// promFigures are the process figures read from one /metrics page.
type promFigures struct {
	RSS        float64 // process_resident_memory_bytes
	CPUSeconds float64 // process_cpu_seconds_total
	HaveRSS    bool
	HaveCPU    bool
}

// parseProm reads the process collector's figures from a Prometheus text
// exposition. It fails when data is not Prometheus text at all; a page
// without the process collector gives zero figures and no error.
func parseProm(data []byte) (promFigures, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		return promFigures{}, fmt.Errorf("not Prometheus text: %w", err)
	}
	var pf promFigures
	pf.RSS, pf.HaveRSS = single(fams["process_resident_memory_bytes"])
	pf.CPUSeconds, pf.HaveCPU = single(fams["process_cpu_seconds_total"])
	return pf, nil
}

// single returns the value of a family's only unlabelled gauge or counter.
func single(f *dto.MetricFamily) (float64, bool) {
	if f == nil || len(f.GetMetric()) != 1 {
		return 0, false
	}
	m := f.GetMetric()[0]
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue(), true
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue(), true
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}
