package lab

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress draws one status line ("servers · round 2/3 · nginx · 1m20s
// left") on a terminal. A nil writer makes every method a no-op.
type progress struct {
	mu              sync.Mutex
	w               io.Writer
	start           time.Time
	total, finished int
}

func newProgress(w io.Writer) *progress { return &progress{w: w, start: time.Now()} }

// plan adds n steps to the total the time-left estimate divides by.
func (p *progress) plan(n int) {
	p.mu.Lock()
	p.total += n
	p.mu.Unlock()
}

// step shows what runs now and counts one step as done.
func (p *progress) step(scenario string, round, rounds int, what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished++
	if p.w == nil {
		return
	}
	left := ""
	if p.finished > 1 && p.total > p.finished {
		per := time.Since(p.start) / time.Duration(p.finished-1)
		left = fmt.Sprintf(" · about %v left", (per * time.Duration(p.total-p.finished+1)).Round(time.Second))
	}
	fmt.Fprintf(p.w, "\r\033[K%s · round %d/%d · %s%s", scenario, round, rounds, what, left)
}

// done clears the line.
func (p *progress) done() {
	if p.w != nil {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
