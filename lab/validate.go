package lab

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// ValidateJSON checks a report.json against the schema docs/lab.md
// documents: the required fields are present with the right types, every
// scenario id is known, every row's status is one of the documented forms,
// every figure is finite and not negative, an "ok" row of the servers and
// gc scenarios has positive req/s and CPU per request, and the optional
// settings.servers and settings.base have their documented shapes. It
// returns the first problem, naming the field.
func ValidateJSON(data []byte) error {
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("report.json: %w", err)
	}
	if doc["schema"] != Schema {
		return fmt.Errorf("report.json: schema %v, want %q", doc["schema"], Schema)
	}
	for _, k := range []string{"hotpath_version", "go_version", "command", "date"} {
		if s, ok := doc[k].(string); !ok || s == "" {
			return fmt.Errorf("report.json: %s missing or not a string", k)
		}
	}
	m, ok := doc["machine"].(map[string]any)
	if !ok {
		return fmt.Errorf("report.json: machine missing")
	}
	for _, k := range []string{"cpu_model", "kernel"} {
		if _, ok := m[k].(string); !ok {
			return fmt.Errorf("report.json: machine.%s missing", k)
		}
	}
	for _, k := range []string{"cores", "memory_mb"} {
		if v, ok := m[k].(float64); !ok || v <= 0 {
			return fmt.Errorf("report.json: machine.%s missing or not positive", k)
		}
	}
	settings, ok := doc["settings"].(map[string]any)
	if !ok {
		return fmt.Errorf("report.json: settings missing")
	}
	if err := validateSettings(settings); err != nil {
		return err
	}
	if _, ok := doc["peers"].(map[string]any); !ok {
		return fmt.Errorf("report.json: peers missing")
	}
	scs, ok := doc["scenarios"].([]any)
	if !ok || len(scs) == 0 {
		return fmt.Errorf("report.json: scenarios missing or empty")
	}
	for i, x := range scs {
		sc, ok := x.(map[string]any)
		if !ok {
			return fmt.Errorf("report.json: scenarios[%d] is not an object", i)
		}
		id, _ := sc["id"].(string)
		if !slices.Contains(ScenarioIDs(), id) {
			return fmt.Errorf("report.json: scenarios[%d].id %q unknown", i, id)
		}
		rows, ok := sc["rows"].([]any)
		if !ok || len(rows) == 0 {
			return fmt.Errorf("report.json: %s.rows missing or empty", id)
		}
		for j, y := range rows {
			if err := validateRow(id, j, y); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateSettings checks the optional settings.servers (a list of row
// names), settings.base (an object with a non-empty path and version) and
// settings.base_args (a list of non-empty strings, only beside base).
func validateSettings(settings map[string]any) error {
	for _, k := range []struct{ key, what string }{{"servers", "a row name"}, {"base_args", "an argument"}} {
		v, ok := settings[k.key]
		if !ok {
			continue
		}
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("report.json: settings.%s is not a list", k.key)
		}
		for i, x := range list {
			if s, ok := x.(string); !ok || s == "" {
				return fmt.Errorf("report.json: settings.%s[%d] is not %s", k.key, i, k.what)
			}
		}
	}
	if _, ok := settings["base_args"]; ok {
		if _, ok := settings["base"]; !ok {
			return fmt.Errorf("report.json: settings.base_args without settings.base")
		}
	}
	if v, ok := settings["base"]; ok {
		base, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("report.json: settings.base is not an object")
		}
		for _, k := range []string{"path", "version"} {
			if s, ok := base[k].(string); !ok || s == "" {
				return fmt.Errorf("report.json: settings.base.%s missing or not a string", k)
			}
		}
	}
	return nil
}

func validateRow(id string, j int, y any) error {
	row, ok := y.(map[string]any)
	if !ok {
		return fmt.Errorf("report.json: %s.rows[%d] is not an object", id, j)
	}
	name, _ := row["name"].(string)
	at := fmt.Sprintf("report.json: %s.rows[%d] (%s)", id, j, name)
	if name == "" {
		return fmt.Errorf("%s: name missing", at)
	}
	status, _ := row["status"].(string)
	if !validStatus(status) {
		return fmt.Errorf("%s: status %q is not ok, not installed (…), failed: …, not built yet or waits for …", at, status)
	}
	metrics, ok := row["metrics"].(map[string]any)
	if !ok {
		return fmt.Errorf("%s: metrics missing", at)
	}
	for _, field := range []string{"metrics", "seed"} {
		obj, _ := row[field].(map[string]any)
		for k, v := range obj {
			f, ok := v.(float64)
			if !ok || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
				return fmt.Errorf("%s: %s.%s = %v, want a number ≥ 0", at, field, k, v)
			}
		}
	}
	if status == "ok" && (id == Servers || id == GC) {
		for _, k := range []string{"rps", "cpu_us_per_req"} {
			if v, _ := metrics[k].(float64); v <= 0 {
				return fmt.Errorf("%s: ok but metrics.%s = %v, want > 0", at, k, metrics[k])
			}
		}
	}
	if status != "ok" && len(metrics) != 0 {
		return fmt.Errorf("%s: status %q with figures", at, status)
	}
	return nil
}

func validStatus(s string) bool {
	switch {
	case s == "ok", s == "not built yet":
		return true
	case strings.HasPrefix(s, "not installed ("), strings.HasPrefix(s, "failed: "), strings.HasPrefix(s, "waits for "):
		return true
	}
	return false
}
