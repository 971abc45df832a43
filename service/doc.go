// Package service implements the seed's endpoints (/time, /json, /echo, /delay,
// /healthz, /readyz). It is split into an engine-neutral core (core.go: plain
// values and []byte, no net/http types) that every engine reuses, and thin
// net/http handlers (http.go) that the server package mounts.
package service
