package lab

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A real line (kernel 6.x) with a command name holding spaces and ')'.
const statLine = "4242 (my (odd) srv) S 1 4240 4240 0 -1 4194560 1234 0 0 0 250 75 3 2 20 0 9 0 100 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"

func TestParseStat(t *testing.T) {
	s, err := parseStat([]byte(statLine))
	if err != nil {
		t.Fatal(err)
	}
	if s.PGrp != 4240 || s.Ticks != 325 || s.CTicks != 5 {
		t.Fatalf("parseStat = %+v, want pgrp 4240, ticks 250+75, children 3+2", s)
	}
	if ticksDuration(s.Ticks) != 3250*time.Millisecond {
		t.Fatalf("325 ticks = %v, want 3.25s", ticksDuration(s.Ticks))
	}
	bad := []struct{ name, line string }{
		{"no command field", "4242 srv S 1"},
		{"too few fields", "4242 (srv) S 1 2 3"},
		{"utime not a number", strings.Replace(statLine, " 250 ", " x ", 1)},
		{"pgrp not a number", strings.Replace(statLine, ") S 1 4240", ") S 1 pg", 1)},
	}
	for _, tt := range bad {
		if _, err := parseStat([]byte(tt.line)); err == nil {
			t.Errorf("%s: parseStat succeeded", tt.name)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statLine))
	f.Add([]byte("1 (a) R 0 1 1 0 -1 0 0 0 0 0 1 1 1 1"))
	f.Add([]byte(")))"))
	f.Add([]byte("1 (x) S 1 -5 1 0 -1 0 0 0 0 0 18446744073709551615 1 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStat(b)
		if err == nil && s.Ticks > 2*(1<<64-1)/2 {
			t.Fatal("impossible tick count") // the property is: no panic
		}
	})
}

const statusText = `Name:	hotpath
Umask:	0022
State:	S (sleeping)
VmPeak:	 1263392 kB
VmRSS:	   19612 kB
RssAnon:	    2940 kB
RssFile:	   16672 kB
Threads:	7
`

func TestParseStatus(t *testing.T) {
	m, err := parseStatus([]byte(statusText))
	if err != nil {
		t.Fatal(err)
	}
	if m != (Memory{RSSKB: 19612, AnonKB: 2940}) {
		t.Fatalf("parseStatus = %+v", m)
	}
	if _, err := parseStatus([]byte("Name: x\nState: Z (zombie)\n")); err == nil {
		t.Fatal("a zombie's status (no VmRSS) parsed")
	}
	if _, err := parseStatus([]byte("VmRSS: lots kB\nRssAnon: 1 kB\n")); err == nil {
		t.Fatal("a bad number parsed")
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(statusText))
	f.Add([]byte("VmRSS: 1 kB\nRssAnon: 2 kB"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseStatus(b) })
}

// TestGroupCPUAndMemory reads this test's own process group: it is live, so
// both must find it and report plausible figures.
func TestGroupCPUAndMemory(t *testing.T) {
	pg := syscall.Getpgrp()
	d, err := groupCPU(pg)
	if err != nil {
		t.Fatal(err)
	}
	if d < 0 {
		t.Fatalf("groupCPU = %v", d)
	}
	m, err := groupMemory(pg)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSSKB == 0 || m.AnonKB > m.RSSKB {
		t.Fatalf("groupMemory = %+v", m)
	}
	if _, err := groupCPU(1 << 30); err == nil {
		t.Fatal("a group with no process was measured")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Fatal(err)
	}
}
