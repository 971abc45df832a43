package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// statFields are the /proc/PID/stat fields the lab reads.
type statFields struct {
	PGrp   int    // field 5
	Ticks  uint64 // utime + stime, fields 14 and 15
	CTicks uint64 // cutime + cstime, fields 16 and 17: waited-for children
}

// parseStat parses one /proc/PID/stat line. Fields are counted from the last
// ')', as the command name (field 2) may hold spaces and parentheses.
func parseStat(b []byte) (statFields, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return statFields{}, errors.New("/proc stat: no command field")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state).
	if len(f) < 15 {
		return statFields{}, fmt.Errorf("/proc stat: %d fields, want at least 17", len(f)+2)
	}
	num := func(k int) (uint64, error) {
		v, err := strconv.ParseUint(string(f[k]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: field %d %q: %w", k+3, f[k], err)
		}
		return v, nil
	}
	var s statFields
	pg, err := strconv.ParseInt(string(f[2]), 10, 32)
	if err != nil {
		return s, fmt.Errorf("/proc stat: pgrp %q: %w", f[2], err)
	}
	s.PGrp = int(pg)
	var v [4]uint64
	for k := range v {
		if v[k], err = num(11 + k); err != nil {
			return s, err
		}
	}
	s.Ticks, s.CTicks = v[0]+v[1], v[2]+v[3]
	return s, nil
}

// ticksDuration converts clock ticks to a duration.
func ticksDuration(t uint64) time.Duration {
	return time.Duration(t) * (time.Second / clockTicks)
}

// eachInGroup calls fn with the /proc/PID directory and parsed stat of
// every live process in process group pgid; fn reports whether it counted
// the process. A process that exits between the listing and the read is
// skipped. It fails when fn counted none.
func eachInGroup(pgid int, fn func(dir string, s statFields) bool) error {
	dirs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return err
	}
	found := false
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s, err := parseStat(b)
		if err != nil || s.PGrp != pgid {
			continue
		}
		if fn(filepath.Dir(p), s) {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("process group %d: no live process", pgid)
	}
	return nil
}

// groupCPU returns the CPU time (user + system) of every live process in
// process group pgid, plus that of their children already waited for
// (gunicorn's recycled workers).
func groupCPU(pgid int) (time.Duration, error) {
	var ticks uint64
	err := eachInGroup(pgid, func(_ string, s statFields) bool {
		ticks += s.Ticks + s.CTicks
		return true
	})
	return ticksDuration(ticks), err
}

// Memory is resident memory in kB, from /proc/PID/status.
type Memory struct {
	RSSKB  uint64 // VmRSS
	AnonKB uint64 // RssAnon: the private heap, stacks and data
}

// parseStatus reads VmRSS and RssAnon from a /proc/PID/status file.
func parseStatus(b []byte) (Memory, error) {
	var m Memory
	var seen int
	for line := range bytes.Lines(b) {
		for _, f := range []struct {
			key string
			dst *uint64
		}{{"VmRSS:", &m.RSSKB}, {"RssAnon:", &m.AnonKB}} {
			v, ok := bytes.CutPrefix(line, []byte(f.key))
			if !ok {
				continue
			}
			v = bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB"))
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return m, fmt.Errorf("/proc status: %s %q: %w", f.key, v, err)
			}
			*f.dst = n
			seen++
		}
	}
	if seen < 2 {
		return m, errors.New("/proc status: no VmRSS or RssAnon line")
	}
	return m, nil
}

// groupMemory sums VmRSS and RssAnon over the live processes of group pgid.
// Shared pages (the binary, libraries) are counted once per process, as ps
// does.
func groupMemory(pgid int) (Memory, error) {
	var m Memory
	err := eachInGroup(pgid, func(dir string, _ statFields) bool {
		st, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil {
			return false
		}
		pm, err := parseStatus(st)
		if err != nil {
			return false // a zombie has no VmRSS
		}
		m.RSSKB += pm.RSSKB
		m.AnonKB += pm.AnonKB
		return true
	})
	return m, err
}
