package hotpathv1

import (
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// The gateway's routes come from these annotations: a regenerated file
// that lost them would silently drop the JSON endpoints.
func TestHTTPAnnotations(t *testing.T) {
	cases := []struct {
		name       string
		method     protoreflect.MethodDescriptor
		verb, path string
		body       string
	}{
		{"Now is GET /v1/time", File_hotpath_v1_time_proto.Services().ByName("TimeService").Methods().ByName("Now"), "GET", "/v1/time", ""},
		{"Echo is POST /v1/echo", File_hotpath_v1_echo_proto.Services().ByName("EchoService").Methods().ByName("Echo"), "POST", "/v1/echo", "*"},
		{"Ingest is POST /v1/ingest", File_hotpath_v1_ingest_proto.Services().ByName("IngestService").Methods().ByName("Ingest"), "POST", "/v1/ingest", "*"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rule, _ := proto.GetExtension(tc.method.Options().(*descriptorpb.MethodOptions), annotations.E_Http).(*annotations.HttpRule)
			if rule == nil {
				t.Fatal("no google.api.http annotation")
			}
			var verb, path string
			switch {
			case rule.GetGet() != "":
				verb, path = "GET", rule.GetGet()
			case rule.GetPost() != "":
				verb, path = "POST", rule.GetPost()
			}
			if verb != tc.verb || path != tc.path || rule.GetBody() != tc.body {
				t.Errorf("got %s %s body %q, want %s %s body %q", verb, path, rule.GetBody(), tc.verb, tc.path, tc.body)
			}
		})
	}
	if m := File_hotpath_v1_echo_proto.Services().ByName("EchoService").Methods().ByName("EchoStream"); !m.IsStreamingClient() || !m.IsStreamingServer() {
		t.Error("EchoStream must be bidirectional")
	}
}
