// Package deploy holds hotpath's Kubernetes manifests (deploy/k8s, applied with
// `kubectl apply -k deploy/k8s`) and the tests that keep them consistent with
// the server: probe paths, port names, label selectors, and a termination grace
// period longer than the server's drain delay plus shutdown timeout.
package deploy
