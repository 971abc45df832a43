//go:build !race

package nbioengine

const raceEnabled = false
