// Package deploy holds hotpath's Kubernetes manifests (deploy/k8s, applied with
// `kubectl apply -k deploy/k8s`) and the tests that keep them consistent with
// the server: probe paths, port names, label selectors, the scrape path, and a
// termination grace period longer than the drain delay plus shutdown timeout.
// TestManifestEnvRunsServe runs the real binary with the Deployment's own
// environment and checks the probes, the token-protected metrics and the drain.
package deploy
