package doctor

import (
	"cmp"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// GoroutineGroup is the set of goroutines that share one stack (compared by
// function names, innermost first), seen in the two snapshots.
type GoroutineGroup struct {
	// Stack is the group's stack, innermost frame first, as the protobuf
	// profile gives it (runtime frames included).
	Stack  []Frame `json:"stack"`
	Before int64   `json:"before"` // goroutines in the first snapshot
	After  int64   `json:"after"`  // goroutines in the second snapshot
	Growth int64   `json:"growth"` // After - Before
	// FamilyGrowth is the growth of all goroutines sharing this group's entry
	// function (the outermost frame). Goroutines of a fixed pool that merely
	// moved from one state to another make a group grow while their family
	// does not; a leak grows both.
	FamilyGrowth int64 `json:"family_growth"`
	// Persisted counts goroutines of the second dump whose ID was already in
	// this group in the first dump: blocked for the whole interval. The
	// dumps are separate requests from the profiles, so it may exceed
	// Before. It is -1 when the dumps were unavailable.
	Persisted int64 `json:"persisted"`
	// State is the wait reason: the runtime's own (from the debug=2 dump)
	// when available, otherwise inferred from the function names.
	State string `json:"state"`
	// StateSource is "dump" or "stack" and says where State came from.
	StateSource string `json:"state_source"`
	// Kind buckets State: channel, select, lock, io, sleep (all blocking),
	// other (parked elsewhere) or running.
	Kind string `json:"kind"`
	// Blocking is true for the kinds channel, select, lock, io and sleep.
	Blocking bool `json:"blocking"`
	// WaitMinutes is the longest wait in the group as the runtime reports it
	// (whole minutes, only once a goroutine has waited ≥ 1 minute).
	WaitMinutes int `json:"wait_minutes,omitempty"`
	// CreatedBy is the go statement that started the goroutines (most common
	// one in the group), from the dump; nil when unknown.
	CreatedBy *Frame `json:"created_by,omitempty"`
	// UserFrame is the innermost frame outside the runtime and the standard
	// library; nil if the stack has none.
	UserFrame *Frame `json:"user_frame,omitempty"`
	// Suspect marks a leak suspect: the group and its family grew by at least
	// Config.MinGrowth, it blocks, it has a user frame and (when dumps were
	// available) kept at least one goroutine across the snapshots.
	Suspect bool `json:"suspect"`

	key    string
	family string
}

// Kinds of goroutine state, see GoroutineGroup.Kind.
const (
	KindChannel = "channel"
	KindSelect  = "select"
	KindLock    = "lock"
	KindIO      = "io"
	KindSleep   = "sleep"
	KindOther   = "other"
	KindRunning = "running"
)

// keyDepth bounds the frames that identify a group; stacks deeper than
// this are truncated differently by the profile and the dump.
const keyDepth = 24

// hiddenFrame reports whether the traceback in a debug=2 dump hides fn (it
// shows runtime.* functions only when exported), so keys built from the
// profile and from the dump agree.
func hiddenFrame(fn string) bool {
	name, ok := strings.CutPrefix(fn, "runtime.")
	if !ok {
		return false
	}
	// As the runtime's isExportedRuntime: an exported function, or an
	// exported method on an exported type, e.g. runtime.(*Func).Name.
	rcvr := ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		rcvr, name = name[:i], name[i+1:]
		if len(rcvr) >= 3 && strings.HasPrefix(rcvr, "(*") && strings.HasSuffix(rcvr, ")") {
			rcvr = rcvr[2 : len(rcvr)-1]
		}
	}
	upper := func(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }
	return !(upper(name) && (rcvr == "" || upper(rcvr)))
}

// ownFrame reports whether fn belongs to net/http/pprof: such goroutines
// are serving this tool's own requests and are left out of the analysis.
func ownFrame(fn string) bool { return strings.HasPrefix(fn, "net/http/pprof.") }

// stackKey builds the group identity from function names.
func stackKey(stack []Frame) (key string, own bool) {
	var b strings.Builder
	n := 0
	for _, f := range stack {
		if ownFrame(f.Function) {
			own = true
		}
		if hiddenFrame(f.Function) || n == keyDepth {
			continue
		}
		b.WriteString(f.Function)
		b.WriteByte('\n')
		n++
	}
	return b.String(), own
}

// profileStacks turns a goroutine profile into (stack, count) pairs.
func profileStacks(p *profile.Profile) ([][]Frame, []int64) {
	var stacks [][]Frame
	var counts []int64
	for _, s := range p.Sample {
		if len(s.Value) == 0 {
			continue
		}
		var st []Frame
		for _, loc := range s.Location {
			for _, ln := range loc.Line { // innermost (inlined) first
				if ln.Function == nil {
					continue
				}
				st = append(st, Frame{Function: ln.Function.Name, File: ln.Function.Filename, Line: int(ln.Line)})
			}
		}
		stacks = append(stacks, st)
		counts = append(counts, s.Value[0])
	}
	return stacks, counts
}

// snapshot is one point in time: the profile, and the dump when fetched.
type snapshot struct {
	prof *profile.Profile
	dump []dumpGoroutine // nil when unavailable
}

// analyzeGoroutines groups both snapshots by stack and marks leak suspects.
// Groups are sorted suspects first (by growth), then by size.
func analyzeGoroutines(before, after snapshot, minGrowth int64) []GoroutineGroup {
	groups := map[string]*GoroutineGroup{}
	families := map[string]int64{} // entry function → After - Before
	get := func(key string, stack []Frame) *GoroutineGroup {
		g := groups[key]
		if g == nil {
			g = &GoroutineGroup{key: key, Stack: stack, family: entryFunc(stack)}
			groups[key] = g
		}
		return g
	}
	for i, snap := range []snapshot{before, after} {
		stacks, counts := profileStacks(snap.prof)
		for j, st := range stacks {
			key, own := stackKey(st)
			if own || len(st) == 0 {
				// Empty stacks are goroutines caught being created or
				// exiting; they count in the totals only.
				continue
			}
			g := get(key, st)
			if i == 0 {
				g.Before += counts[j]
				families[g.family] -= counts[j]
			} else {
				g.After += counts[j]
				families[g.family] += counts[j]
				g.Stack = st // prefer the newer stack's lines
			}
		}
	}

	haveDumps := before.dump != nil && after.dump != nil
	earlier := map[int64]string{} // goroutine ID → key in the first dump
	for _, d := range before.dump {
		key, _ := stackKey(d.Stack)
		earlier[d.ID] = key
	}
	type dumpAgg struct {
		reasons  map[string]int
		creators map[Frame]int
		persist  int64
		waitMin  int
	}
	aggs := map[string]*dumpAgg{}
	for _, d := range after.dump {
		key, own := stackKey(d.Stack)
		if own {
			continue
		}
		a := aggs[key]
		if a == nil {
			a = &dumpAgg{reasons: map[string]int{}, creators: map[Frame]int{}}
			aggs[key] = a
		}
		a.reasons[d.Reason]++
		if d.CreatedBy.Function != "" {
			a.creators[d.CreatedBy]++
		}
		if k, ok := earlier[d.ID]; ok && k == key {
			a.persist++
		}
		a.waitMin = max(a.waitMin, d.WaitMin)
	}

	out := make([]GoroutineGroup, 0, len(groups))
	for _, g := range groups {
		g.Growth = g.After - g.Before
		g.FamilyGrowth = families[g.family]
		g.Persisted = -1
		g.State, g.StateSource = stateFromStack(g.Stack), "stack"
		if a := aggs[g.key]; a != nil {
			g.State, g.StateSource = mostCommonString(a.reasons), "dump"
			if c := mostCommonFrame(a.creators); c.Function != "" {
				g.CreatedBy = &c
			}
			g.WaitMinutes = a.waitMin
			if haveDumps {
				g.Persisted = a.persist
			}
		} else if haveDumps && g.After > 0 {
			g.Persisted = 0
		}
		g.Kind = kindOf(g.State)
		g.Blocking = isBlockingKind(g.Kind)
		if f, ok := firstUserFrame(g.Stack); ok {
			g.UserFrame = &f
		}
		minGrowth = max(minGrowth, 1)
		g.Suspect = g.Growth >= minGrowth && g.FamilyGrowth >= minGrowth &&
			g.Blocking && g.UserFrame != nil && g.Persisted != 0
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b GoroutineGroup) int {
		if a.Suspect != b.Suspect {
			if a.Suspect {
				return -1
			}
			return 1
		}
		if a.Suspect {
			if c := cmp.Compare(b.Growth, a.Growth); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(b.After, a.After); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Before, a.Before); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	return out
}

// entryFunc returns the outermost function of stack, the goroutine's entry
// point (its go statement's target), or "" for an empty stack.
func entryFunc(stack []Frame) string {
	if len(stack) == 0 {
		return ""
	}
	return stack[len(stack)-1].Function
}

// mostCommonString returns the key with the highest count, ties broken by
// the smaller key so the result is deterministic.
func mostCommonString(m map[string]int) string {
	best, bestN := "", -1
	for k, n := range m {
		if n > bestN || (n == bestN && k < best) {
			best, bestN = k, n
		}
	}
	return best
}

// mostCommonFrame is mostCommonString for frames.
func mostCommonFrame(m map[Frame]int) Frame {
	var best Frame
	bestN := -1
	for k, n := range m {
		if n > bestN || (n == bestN && frameLess(k, best)) {
			best, bestN = k, n
		}
	}
	return best
}

func frameLess(a, b Frame) bool {
	if a.Function != b.Function {
		return a.Function < b.Function
	}
	if a.File != b.File {
		return a.File < b.File
	}
	return a.Line < b.Line
}

// stackStates maps functions found in blocked stacks to the wait reason the
// runtime would print for them. The innermost match wins.
var stackStates = map[string]string{
	"runtime.chanrecv":                      "chan receive",
	"runtime.chansend":                      "chan send",
	"runtime.selectgo":                      "select",
	"runtime.block":                         "select (no cases)",
	"internal/sync.runtime_SemacquireMutex": "sync.Mutex.Lock",
	"sync.runtime_SemacquireMutex":          "sync.Mutex.Lock",
	"sync.runtime_SemacquireRWMutexR":       "sync.RWMutex.RLock",
	"sync.runtime_SemacquireRWMutex":        "sync.RWMutex.Lock",
	"sync.runtime_SemacquireWaitGroup":      "sync.WaitGroup.Wait",
	"sync.runtime_Semacquire":               "semacquire",
	"sync.runtime_notifyListWait":           "sync.Cond.Wait",
	"internal/poll.runtime_pollWait":        "IO wait",
	"time.Sleep":                            "sleep",
}

// stateFromStack infers a wait reason from function names: a goroutine whose
// innermost frame is not runtime.gopark/goparkunlock is running or runnable.
func stateFromStack(stack []Frame) string {
	if len(stack) == 0 {
		return "unknown"
	}
	top := stack[0].Function
	if top != "runtime.gopark" && top != "runtime.goparkunlock" {
		return "running"
	}
	sema := false
	for _, f := range stack {
		if s := stackStates[f.Function]; s != "" {
			return s
		}
		sema = sema || strings.HasPrefix(f.Function, "runtime.semacquire")
	}
	if sema {
		return "semacquire"
	}
	return "parked"
}

// kindOf buckets a wait reason, as printed by the runtime or by
// stateFromStack, into one of the Kind constants.
func kindOf(state string) string {
	switch {
	case strings.HasPrefix(state, "chan "):
		return KindChannel
	case strings.HasPrefix(state, "select"):
		return KindSelect
	case strings.HasPrefix(state, "sync.Mutex"), strings.HasPrefix(state, "sync.RWMutex"),
		strings.HasPrefix(state, "sync.WaitGroup"), strings.HasPrefix(state, "sync.Cond"),
		strings.HasPrefix(state, "semacquire"):
		return KindLock
	case strings.HasPrefix(state, "IO wait"):
		return KindIO
	case strings.HasPrefix(state, "sleep"):
		return KindSleep
	case state == "running", state == "runnable", state == "syscall", state == "preempted",
		strings.HasPrefix(state, "running,"), strings.HasPrefix(state, "runnable,"):
		return KindRunning
	}
	return KindOther
}

func isBlockingKind(k string) bool {
	switch k {
	case KindChannel, KindSelect, KindLock, KindIO, KindSleep:
		return true
	}
	return false
}

// stdTop lists the first path elements of the standard library (Go 1.26),
// plus "vendor" for the copies std vendors. A dot-free first element is not
// enough on its own: user modules may be named "myservice/...".
var stdTop = map[string]bool{
	"archive": true, "bufio": true, "builtin": true, "bytes": true, "cmp": true,
	"compress": true, "container": true, "context": true, "crypto": true, "database": true,
	"debug": true, "embed": true, "encoding": true, "errors": true, "expvar": true,
	"flag": true, "fmt": true, "go": true, "hash": true, "html": true, "image": true,
	"index": true, "internal": true, "io": true, "iter": true, "log": true, "maps": true,
	"math": true, "mime": true, "net": true, "os": true, "path": true, "plugin": true,
	"reflect": true, "regexp": true, "runtime": true, "slices": true, "sort": true,
	"strconv": true, "strings": true, "structs": true, "sync": true, "syscall": true,
	"testing": true, "text": true, "time": true, "unicode": true, "unique": true,
	"unsafe": true, "vendor": true, "weak": true,
}

// funcPackage returns the import path of a fully qualified function name,
// e.g. "net/http" for "net/http.(*conn).serve".
func funcPackage(fn string) string {
	if i := strings.IndexByte(fn, '['); i >= 0 { // generic instantiations
		fn = fn[:i]
	}
	slash := strings.LastIndexByte(fn, '/')
	dot := strings.IndexByte(fn[slash+1:], '.')
	if dot < 0 {
		return fn
	}
	return fn[:slash+1+dot]
}

// isStdFunc reports whether fn belongs to the runtime or standard library.
// Symbols that are not package-qualified Go names (the race detector's C++
// functions, assembly stubs like "racecall") count as runtime.
func isStdFunc(fn string) bool {
	if !strings.Contains(fn, ".") {
		return true
	}
	if strings.HasPrefix(fn, "_Z") { // Itanium-mangled C++ (e.g. tsan)
		return true
	}
	pkg := funcPackage(fn)
	first, _, _ := strings.Cut(pkg, "/")
	return stdTop[first]
}

func firstUserFrame(stack []Frame) (Frame, bool) {
	for _, f := range stack {
		if f.Function != "" && !isStdFunc(f.Function) {
			return f, true
		}
	}
	return Frame{}, false
}
