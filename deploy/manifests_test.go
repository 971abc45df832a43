package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// Minimal views of the Kubernetes objects we ship: just the fields the
// consistency checks read. We do not import k8s.io/api for this.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec json.RawMessage `json:"spec"`
}

type probe struct {
	HTTPGet *struct {
		Path string `json:"path"`
		Port string `json:"port"`
	} `json:"httpGet"`
	PeriodSeconds    int `json:"periodSeconds"`
	FailureThreshold int `json:"failureThreshold"`
}

type container struct {
	Name  string   `json:"name"`
	Image string   `json:"image"`
	Args  []string `json:"args"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	Env []struct {
		Name      string          `json:"name"`
		Value     string          `json:"value"`
		ValueFrom json.RawMessage `json:"valueFrom"`
	} `json:"env"`
	Resources struct {
		Requests map[string]string `json:"requests"`
		Limits   map[string]string `json:"limits"`
	} `json:"resources"`
	StartupProbe   *probe `json:"startupProbe"`
	LivenessProbe  *probe `json:"livenessProbe"`
	ReadinessProbe *probe `json:"readinessProbe"`
}

type deploymentSpec struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			TerminationGracePeriodSeconds int         `json:"terminationGracePeriodSeconds"`
			Containers                    []container `json:"containers"`
		} `json:"spec"`
	} `json:"template"`
}

type serviceSpec struct {
	Selector map[string]string `json:"selector"`
	Ports    []struct {
		Name       string `json:"name"`
		TargetPort string `json:"targetPort"`
	} `json:"ports"`
}

type selectorSpec struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	ScaleTargetRef struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"scaleTargetRef"`
	MinReplicas int `json:"minReplicas"`
}

// loadManifests reads every resource listed in deploy/k8s/kustomization.yaml.
func loadManifests(t *testing.T) []object {
	t.Helper()
	var kust struct {
		Resources []string `json:"resources"`
	}
	mustUnmarshal(t, "k8s/kustomization.yaml", readFile(t, "k8s/kustomization.yaml"), &kust)
	if len(kust.Resources) == 0 {
		t.Fatal("kustomization.yaml lists no resources")
	}
	var objs []object
	for _, res := range kust.Resources {
		path := filepath.Join("k8s", res)
		for i, doc := range bytes.Split(readFile(t, path), []byte("\n---\n")) {
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			var o object
			mustUnmarshal(t, path+"#"+string(rune('0'+i)), doc, &o)
			if o.Kind == "" || o.Metadata.Name == "" {
				t.Fatalf("%s document %d: missing kind or metadata.name", path, i)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read manifest: %v", err)
	}
	return b
}

func mustUnmarshal(t *testing.T, where string, b []byte, v any) {
	t.Helper()
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

func find(objs []object, kind, name string) (object, bool) {
	for _, o := range objs {
		if o.Kind == kind && o.Metadata.Name == name {
			return o, true
		}
	}
	return object{}, false
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false // an empty selector matches everything: never what we want
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func spec[T any](t *testing.T, o object) T {
	t.Helper()
	var s T
	if err := json.Unmarshal(o.Spec, &s); err != nil {
		t.Fatalf("%s/%s spec: %v", o.Kind, o.Metadata.Name, err)
	}
	return s
}

func hotpathDeployment(t *testing.T, objs []object) (deploymentSpec, container) {
	t.Helper()
	d, ok := find(objs, "Deployment", "hotpath")
	if !ok {
		t.Fatal("no Deployment named hotpath")
	}
	ds := spec[deploymentSpec](t, d)
	if len(ds.Template.Spec.Containers) != 1 {
		t.Fatalf("want 1 container, got %d", len(ds.Template.Spec.Containers))
	}
	return ds, ds.Template.Spec.Containers[0]
}

func envValue(c container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func TestSelectorsMatchPodLabels(t *testing.T) {
	objs := loadManifests(t)
	ds, _ := hotpathDeployment(t, objs)
	pod := ds.Template.Metadata.Labels
	if !subset(ds.Selector.MatchLabels, pod) {
		t.Errorf("Deployment selector %v does not match its pod labels %v", ds.Selector.MatchLabels, pod)
	}
	for _, o := range objs {
		switch o.Kind {
		case "Service":
			if s := spec[serviceSpec](t, o); !subset(s.Selector, pod) {
				t.Errorf("Service %s selector %v does not match pod labels %v", o.Metadata.Name, s.Selector, pod)
			}
		case "PodDisruptionBudget":
			if s := spec[selectorSpec](t, o); !subset(s.Selector.MatchLabels, pod) {
				t.Errorf("PDB %s selector does not match pod labels", o.Metadata.Name)
			}
		case "HorizontalPodAutoscaler":
			s := spec[selectorSpec](t, o)
			if s.ScaleTargetRef.Kind != "Deployment" || s.ScaleTargetRef.Name != "hotpath" {
				t.Errorf("HPA targets %s/%s, want Deployment/hotpath", s.ScaleTargetRef.Kind, s.ScaleTargetRef.Name)
			}
			if s.MinReplicas < 2 {
				t.Errorf("HPA minReplicas %d: a single replica cannot roll or survive a node drain", s.MinReplicas)
			}
		}
	}
}

func TestProbesAndPortsMatchServer(t *testing.T) {
	objs := loadManifests(t)
	_, c := hotpathDeployment(t, objs)
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	tests := []struct {
		name     string
		probe    *probe
		wantPath string
	}{
		{"startup waits for liveness endpoint", c.StartupProbe, "/healthz"},
		{"liveness must not depend on draining", c.LivenessProbe, "/healthz"},
		{"readiness flips to 503 while draining", c.ReadinessProbe, "/readyz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.probe == nil || tt.probe.HTTPGet == nil {
				t.Fatal("probe missing or not httpGet")
			}
			if tt.probe.HTTPGet.Path != tt.wantPath {
				t.Errorf("path = %q, want %q", tt.probe.HTTPGet.Path, tt.wantPath)
			}
			if tt.probe.HTTPGet.Port != "http" || !ports["http"] {
				t.Errorf("probe port %q must be the public container port named http", tt.probe.HTTPGet.Port)
			}
		})
	}
	for _, o := range objs {
		if o.Kind != "Service" {
			continue
		}
		for _, p := range spec[serviceSpec](t, o).Ports {
			if !ports[p.TargetPort] {
				t.Errorf("Service %s targets port %q, which the container does not name", o.Metadata.Name, p.TargetPort)
			}
		}
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Error("cpu/memory requests and a memory limit are required (HPA needs the CPU request)")
	}
}

func TestGracePeriodCoversDrain(t *testing.T) {
	objs := loadManifests(t)
	ds, c := hotpathDeployment(t, objs)
	var total time.Duration
	for _, name := range []string{"HOTPATH_DRAIN_DELAY", "HOTPATH_SHUTDOWN_TIMEOUT"} {
		v, ok := envValue(c, name)
		if !ok {
			t.Fatalf("%s not set: the drain timing must be explicit", name)
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", name, v, err)
		}
		total += d
	}
	grace := time.Duration(ds.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	if grace <= total {
		t.Errorf("terminationGracePeriodSeconds %v must exceed drain delay + shutdown timeout %v", grace, total)
	}
	if r := c.ReadinessProbe; r != nil {
		// The pod must fail readiness within the drain delay so it leaves the endpoints first.
		d, _ := envValue(c, "HOTPATH_DRAIN_DELAY")
		drain, _ := time.ParseDuration(d)
		if notice := time.Duration(r.PeriodSeconds*r.FailureThreshold) * time.Second; notice >= drain {
			t.Errorf("readiness needs %v to notice draining, drain delay is only %v", notice, drain)
		}
	}
}

func TestDockerfileBuildsTheBinary(t *testing.T) {
	df := string(readFile(t, "../Dockerfile"))
	for _, want := range []string{"./cmd/hotpath", "CGO_ENABLED=0", "USER ", "EXPOSE 8080"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// The image's own user must be numeric too, so that runAsNonRoot can be
	// verified wherever the image runs, not only under our manifest
	// (TestRunAsNonRootIsVerifiable).
	var user string
	for _, l := range strings.Split(df, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "USER" {
			user = f[1] // the last USER wins
		}
	}
	if !regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`).MatchString(user) {
		t.Errorf("Dockerfile USER %q: want a numeric, non-root uid[:gid]", user)
	}
}

// TestContainerPortsMatchListenAddresses checks that the ports the probes,
// Services and Dockerfile name are the ones serve listens on: the container
// port named http is HOTPATH_ADDR's port and the one named admin is
// HOTPATH_ADMIN_ADDR's. A mismatch leaves the probes or Prometheus knocking
// on a closed port while every other check passes.
func TestContainerPortsMatchListenAddresses(t *testing.T) {
	_, c := hotpathDeployment(t, loadManifests(t))
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	df := string(readFile(t, "../Dockerfile"))
	tests := []struct {
		name     string
		env      string
		portName string
	}{
		{"public listener is the http port the probes use", "HOTPATH_ADDR", "http"},
		{"admin listener is the admin port Prometheus scrapes", "HOTPATH_ADMIN_ADDR", "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, ok := envValue(c, tt.env)
			if !ok {
				t.Fatalf("%s is not set: serve's default would apply", tt.env)
			}
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatalf("%s=%q: %v", tt.env, addr, err)
			}
			if host != "" && host != "0.0.0.0" && host != "::" {
				t.Errorf("%s=%q listens on one host only; the kubelet and Prometheus reach the pod IP", tt.env, addr)
			}
			want, ok := ports[tt.portName]
			if !ok {
				t.Fatalf("no container port named %q", tt.portName)
			}
			if port != strconv.Itoa(want) {
				t.Errorf("%s=%q but container port %q is %d", tt.env, addr, tt.portName, want)
			}
			if !strings.Contains(df, "EXPOSE") || !regexp.MustCompile(`(?m)^EXPOSE\b.*\b`+port+`\b`).MatchString(df) {
				t.Errorf("Dockerfile does not EXPOSE %s (%s)", port, tt.env)
			}
		})
	}
}

// TestServiceMonitorScrapesAdminPort checks the scrape path end to end in
// the manifests: the ServiceMonitor selects a Service that has its port,
// that port targets the container's admin port, and the bearer token comes
// from the same Secret key as the Deployment's HOTPATH_ADMIN_TOKEN, which
// kustomization.yaml generates under that exact name.
func TestServiceMonitorScrapesAdminPort(t *testing.T) {
	objs := loadManifests(t)
	_, c := hotpathDeployment(t, objs)
	o, ok := find(objs, "ServiceMonitor", "hotpath")
	if !ok {
		t.Fatal("no ServiceMonitor named hotpath")
	}
	sm := spec[serviceMonitor](t, o)
	if len(sm.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor has %d endpoints, want 1", len(sm.Endpoints))
	}
	ep := sm.Endpoints[0]
	if p := serviceMonitorPath(t, objs); p != "/metrics" {
		t.Errorf("ServiceMonitor scrapes %q; serve's admin listener serves /metrics", p)
	}
	var targets []string
	for _, s := range objs {
		if s.Kind != "Service" || !subset(sm.Selector.MatchLabels, s.Metadata.Labels) {
			continue
		}
		for _, p := range spec[serviceSpec](t, s).Ports {
			if p.Name == ep.Port {
				targets = append(targets, s.Metadata.Name+"→"+p.TargetPort)
				if p.TargetPort != "admin" {
					t.Errorf("Service %s port %q targets %q, want the container port admin", s.Metadata.Name, p.Name, p.TargetPort)
				}
			}
		}
	}
	if len(targets) == 0 {
		t.Errorf("no Service selected by the ServiceMonitor (labels %v) has a port named %q", sm.Selector.MatchLabels, ep.Port)
	}
	var ref struct {
		SecretKeyRef struct {
			Name string `json:"name"`
			Key  string `json:"key"`
		} `json:"secretKeyRef"`
	}
	for _, e := range c.Env {
		if e.Name == "HOTPATH_ADMIN_TOKEN" {
			if err := json.Unmarshal(e.ValueFrom, &ref); err != nil {
				t.Fatalf("HOTPATH_ADMIN_TOKEN valueFrom: %v", err)
			}
		}
	}
	if ref.SecretKeyRef.Name == "" {
		t.Fatal("HOTPATH_ADMIN_TOKEN must come from a Secret (secretKeyRef)")
	}
	cr := ep.Authorization.Credentials
	if ep.Authorization.Type != "Bearer" || cr.Name != ref.SecretKeyRef.Name || cr.Key != ref.SecretKeyRef.Key {
		t.Errorf("ServiceMonitor authorization %s %s/%s, want Bearer %s/%s (the Deployment's HOTPATH_ADMIN_TOKEN)",
			ep.Authorization.Type, cr.Name, cr.Key, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
	}
	var kust struct {
		SecretGenerator []struct {
			Name     string   `json:"name"`
			Literals []string `json:"literals"`
			Files    []string `json:"files"`
		} `json:"secretGenerator"`
		GeneratorOptions struct {
			DisableNameSuffixHash bool `json:"disableNameSuffixHash"`
		} `json:"generatorOptions"`
	}
	mustUnmarshal(t, "k8s/kustomization.yaml", readFile(t, "k8s/kustomization.yaml"), &kust)
	found := false
	for _, g := range kust.SecretGenerator {
		if g.Name != ref.SecretKeyRef.Name {
			continue
		}
		if len(g.Literals) > 0 {
			t.Errorf("Secret %s is generated from literals %q: a token in the repository would be deployed as is", g.Name, g.Literals)
		}
		for _, f := range g.Files {
			key, file, ok := strings.Cut(f, "=")
			if !ok || key != ref.SecretKeyRef.Key {
				continue
			}
			found = true
			// The token file must stay out of the repository.
			out, err := exec.Command("git", "check-ignore", "-q", filepath.Join("k8s", file)).CombinedOutput()
			var ee *exec.ExitError
			switch {
			case err == nil:
			case errors.As(err, &ee) && ee.ExitCode() == 1:
				t.Errorf("deploy/k8s/%s (the admin token) is not ignored by git", file)
			default: // no git, or not a work tree: nothing to check against
				t.Logf("git check-ignore: %v %s", err, out)
			}
		}
	}
	if !found {
		t.Errorf("kustomization.yaml generates no Secret %s with key %s", ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
	}
	if !kust.GeneratorOptions.DisableNameSuffixHash {
		t.Error("generated Secret names get a hash suffix; the ServiceMonitor's credentials would not be rewritten to it")
	}
}

// TestRunAsNonRootIsVerifiable: with runAsNonRoot the kubelet must prove
// the user is not root before starting the container, and it can only do
// that with a numeric user: a named one (the Dockerfile's USER
// nonroot:nonroot) fails every pod with CreateContainerConfigError
// "container has runAsNonRoot and image has non-numeric user (nonroot),
// cannot verify user is non-root". So either the manifest sets a numeric
// runAsUser or the image's USER is numeric.
func TestRunAsNonRootIsVerifiable(t *testing.T) {
	objs := loadManifests(t)
	d, ok := find(objs, "Deployment", "hotpath")
	if !ok {
		t.Fatal("no Deployment named hotpath")
	}
	type secCtx struct {
		RunAsNonRoot *bool  `json:"runAsNonRoot"`
		RunAsUser    *int64 `json:"runAsUser"`
	}
	var ds struct {
		Template struct {
			Spec struct {
				SecurityContext secCtx `json:"securityContext"`
				Containers      []struct {
					SecurityContext secCtx `json:"securityContext"`
				} `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	}
	if err := json.Unmarshal(d.Spec, &ds); err != nil {
		t.Fatal(err)
	}
	pod := ds.Template.Spec.SecurityContext
	if len(ds.Template.Spec.Containers) != 1 {
		t.Fatalf("want 1 container")
	}
	ctr := ds.Template.Spec.Containers[0].SecurityContext
	nonRoot := (ctr.RunAsNonRoot != nil && *ctr.RunAsNonRoot) || (ctr.RunAsNonRoot == nil && pod.RunAsNonRoot != nil && *pod.RunAsNonRoot)
	if !nonRoot {
		t.Fatal("the pod must set runAsNonRoot: true")
	}
	uid := ctr.RunAsUser
	if uid == nil {
		uid = pod.RunAsUser
	}
	if uid != nil {
		if *uid == 0 {
			t.Fatal("runAsUser 0 contradicts runAsNonRoot")
		}
		return // the kubelet checks this number, not the image's USER
	}
	var user string
	for _, l := range strings.Split(string(readFile(t, "../Dockerfile")), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && strings.EqualFold(f[0], "USER") {
			user = f[1] // the last USER wins
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if n, err := strconv.ParseInt(name, 10, 64); err != nil || n == 0 {
		t.Errorf("Dockerfile USER %q is not a numeric non-root UID and the Deployment sets no runAsUser: "+
			"the kubelet refuses to start the pod (cannot verify user is non-root)", user)
	}
}
