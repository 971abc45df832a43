package doctor

import (
	"bytes"
	"strconv"
	"strings"
)

// The goroutine dump (/debug/pprof/goroutine?debug=2) is the only source of a
// goroutine's ID, the runtime's own wait reason, how long it has waited and
// its "created by" site; the protobuf profile carries none of them. No
// maintained library parses this format (it is the runtime's traceback
// text), so this file does, defensively: unknown lines are skipped, never an
// error, because the format gains fields between Go releases.

// Frame is one function in a stack, innermost first in Stack slices.
type Frame struct {
	Function string `json:"function"`       // fully qualified, e.g. "net/http.(*conn).serve"
	File     string `json:"file,omitempty"` // source file on the target's build machine
	Line     int    `json:"line,omitempty"`
}

// dumpGoroutine is one goroutine of a debug=2 dump.
type dumpGoroutine struct {
	ID         int64
	Reason     string // wait reason or state, e.g. "chan receive", "running"
	WaitMin    int    // minutes blocked, as the runtime reports (0 when < 1 min)
	Stack      []Frame
	CreatedBy  Frame // zero for goroutines the runtime started
	CreatorGID int64 // goroutine that ran the go statement; 0 if unknown
}

// parseDump parses a debug=2 goroutine dump. It never fails: malformed
// records are skipped and a truncated dump yields the goroutines read so far.
// Function and file names are interned: a dump of 100,000 goroutines holds
// a few hundred distinct stacks.
func parseDump(data []byte) []dumpGoroutine {
	var (
		out []dumpGoroutine
		cur *dumpGoroutine
		// pending is the frame whose "\tfile:line" line comes next;
		// it points into cur.Stack or at cur.CreatedBy.
		pending *Frame
		names   = map[string]string{}
	)
	intern := func(b []byte) string {
		if s, ok := names[string(b)]; ok { // no allocation for the lookup
			return s
		}
		s := string(b)
		names[s] = s
		return s
	}
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case bytes.HasPrefix(line, []byte("goroutine ")):
			g, ok := parseDumpHeader(string(line))
			if !ok {
				cur, pending = nil, nil
				continue
			}
			out = append(out, g)
			cur, pending = &out[len(out)-1], nil
		case cur == nil || len(line) == 0:
			pending = nil
		case line[0] == '\t':
			if pending != nil {
				file, n := parseFileLine(line)
				pending.File, pending.Line = intern(file), n
				pending = nil
			}
		case bytes.HasPrefix(line, []byte("created by ")):
			fn, gid := parseCreatedBy(string(line[len("created by "):]))
			cur.CreatedBy = Frame{Function: fn}
			cur.CreatorGID = gid
			pending = &cur.CreatedBy
		case bytes.HasPrefix(line, []byte("...")):
			// "...additional frames elided..." / "...N frames elided...".
			pending = nil
		default:
			fn := trimArgs(line)
			if len(fn) == 0 {
				pending = nil
				continue
			}
			cur.Stack = append(cur.Stack, Frame{Function: intern(fn)})
			pending = &cur.Stack[len(cur.Stack)-1]
		}
	}
	return out
}

// parseDumpHeader parses "goroutine 7 [chan receive, 3 minutes]:" and
// variants with extra fields before the bracket ("gp=0x... m=nil").
func parseDumpHeader(line string) (dumpGoroutine, bool) {
	rest := strings.TrimPrefix(line, "goroutine ")
	sp := strings.IndexByte(rest, ' ')
	if sp <= 0 {
		return dumpGoroutine{}, false
	}
	id, err := strconv.ParseInt(rest[:sp], 10, 64)
	if err != nil || id < 0 {
		return dumpGoroutine{}, false
	}
	open := strings.IndexByte(rest, '[')
	end := strings.LastIndex(rest, "]:")
	if open < 0 || end < open {
		return dumpGoroutine{}, false
	}
	g := dumpGoroutine{ID: id}
	for i, field := range strings.Split(rest[open+1:end], ",") {
		field = strings.TrimSpace(field)
		if i == 0 {
			g.Reason = field
			continue
		}
		if n, ok := strings.CutSuffix(field, " minutes"); ok {
			if m, err := strconv.Atoi(n); err == nil && m >= 0 {
				g.WaitMin = m
			}
		}
	}
	return g, true
}

// parseCreatedBy parses "pkg.fn in goroutine 6" (Go ≥ 1.21) or "pkg.fn".
func parseCreatedBy(s string) (string, int64) {
	fn, gid, ok := strings.Cut(s, " in goroutine ")
	if !ok {
		return strings.TrimSpace(s), 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(gid), 10, 64)
	if err != nil || n < 0 {
		n = 0
	}
	return strings.TrimSpace(fn), n
}

// parseFileLine parses "\t/path/file.go:123 +0x1d" into the path and line.
func parseFileLine(s []byte) ([]byte, int) {
	s = bytes.TrimSpace(s)
	if i := bytes.LastIndex(s, []byte(" +0x")); i >= 0 {
		s = s[:i]
	}
	i := bytes.LastIndexByte(s, ':')
	if i < 0 {
		return s, 0
	}
	n, err := strconv.Atoi(string(s[i+1:]))
	if err != nil || n < 0 {
		return s, 0
	}
	return s[:i], n
}

// trimArgs turns "sync.(*Mutex).Lock(0xc000010000)" or "main.f(...)" into
// the function name by removing the trailing, balanced argument list; nil
// when the parentheses do not balance.
func trimArgs(line []byte) []byte {
	line = bytes.TrimSpace(line)
	if !bytes.HasSuffix(line, []byte(")")) {
		return line
	}
	depth := 0
	for i := len(line) - 1; i >= 0; i-- {
		switch line[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				return line[:i]
			}
		}
	}
	return nil
}
