package deploy

import (
	"encoding/json"
	"path"
	"strings"
	"testing"
)

// TestIngestSinkHasAVolume: the root filesystem is read-only, so a file
// sink (HOTPATH_INGEST_SINK=file:DIR) must be a mounted volume the pod
// defines (an emptyDir or a claim), or every POST /ingest would fail and
// serve would not even start. The image must also own that directory and
// set the same sink, so `docker run` works without the manifests.
func TestIngestSinkHasAVolume(t *testing.T) {
	objs := loadManifests(t)
	d, ok := find(objs, "Deployment", "hotpath")
	if !ok {
		t.Fatal("no Deployment named hotpath")
	}
	var ds struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Env []struct {
						Name  string `json:"name"`
						Value string `json:"value"`
					} `json:"env"`
					VolumeMounts []struct {
						Name      string `json:"name"`
						MountPath string `json:"mountPath"`
					} `json:"volumeMounts"`
				} `json:"containers"`
				Volumes []struct {
					Name                  string          `json:"name"`
					EmptyDir              json.RawMessage `json:"emptyDir"`
					PersistentVolumeClaim json.RawMessage `json:"persistentVolumeClaim"`
				} `json:"volumes"`
			} `json:"spec"`
		} `json:"template"`
	}
	if err := json.Unmarshal(d.Spec, &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Template.Spec.Containers) != 1 {
		t.Fatal("want 1 container")
	}
	c := ds.Template.Spec.Containers[0]
	var sink string
	for _, e := range c.Env {
		if e.Name == "HOTPATH_INGEST_SINK" {
			sink = e.Value
		}
	}
	dir, isFile := strings.CutPrefix(sink, "file:")
	if !isFile {
		t.Fatalf("HOTPATH_INGEST_SINK=%q: the shipped manifest uses the file sink (Kafka is shown in a comment)", sink)
	}
	var volume string
	for _, m := range c.VolumeMounts {
		if rel := strings.TrimPrefix(path.Clean(dir), path.Clean(m.MountPath)); rel == "" || strings.HasPrefix(rel, "/") {
			volume = m.Name
		}
	}
	if volume == "" {
		t.Fatalf("the ingest directory %s is on no volumeMount: the read-only root filesystem refuses it", dir)
	}
	found := false
	for _, v := range ds.Template.Spec.Volumes {
		if v.Name == volume && (len(v.EmptyDir) > 0 || len(v.PersistentVolumeClaim) > 0) {
			found = true
		}
	}
	if !found {
		t.Errorf("volume %q mounted for the ingest log is not an emptyDir or a persistentVolumeClaim of the pod", volume)
	}

	df := string(readFile(t, "../Dockerfile"))
	for _, want := range []string{"ENV HOTPATH_INGEST_SINK=" + sink, "--chown=65532:65532 /out/data " + dir, `VOLUME ["` + dir + `"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q: the image's user could not write the ingest log", want)
		}
	}
}
