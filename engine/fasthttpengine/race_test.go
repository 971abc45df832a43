//go:build race

package fasthttpengine

const raceEnabled = true
