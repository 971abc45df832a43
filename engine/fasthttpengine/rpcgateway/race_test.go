//go:build race

package rpcgateway

const raceEnabled = true
