package policy

import (
	"fmt"
	"hash/maphash"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// RateLimitConfig configures per-client token buckets. The zero value is 100
// requests per second per client with a burst of 100, at most 100,000 tracked
// clients, keyed by the peer address.
type RateLimitConfig struct {
	// Rate is the sustained requests per second allowed per client.
	// Zero: 100. Negative, NaN or infinite is an error.
	Rate float64
	// Burst is the bucket size: requests a client may make at once after
	// being idle. Zero: Rate rounded up (at least 1). Negative is an error.
	Burst int
	// MaxClients bounds the memory: the least recently seen client is
	// forgotten when a new one arrives beyond it (a forgotten client starts
	// again with a full bucket). Zero: 100,000 (about 15 MB when all are in use). Negative is an
	// error.
	MaxClients int
	// TrustedHeader names a header set by a proxy in front of the server
	// ("X-Forwarded-For", "X-Real-IP") that carries the client address; see
	// ClientIP. Empty: use the connection's peer address only. Set it only
	// when every request comes through such a proxy, since clients can send
	// the header themselves.
	TrustedHeader string
	// IPv6Prefix is the prefix length that identifies one IPv6 client.
	// Zero: 64. Outside 0..128 is an error.
	IPv6Prefix int
}

// rateShards spreads clients over independently locked maps so that
// concurrent requests rarely wait for each other.
const rateShards = 16

func (c RateLimitConfig) withDefaults() (RateLimitConfig, error) {
	switch {
	case math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate < 0:
		return c, fmt.Errorf("middleware: rate limit Rate %v: want a finite number >= 0 (0 means 100/s)", c.Rate)
	case c.Burst < 0:
		return c, fmt.Errorf("middleware: rate limit Burst %d is negative", c.Burst)
	case c.MaxClients < 0:
		return c, fmt.Errorf("middleware: rate limit MaxClients %d is negative", c.MaxClients)
	case c.IPv6Prefix < 0 || c.IPv6Prefix > 128:
		return c, fmt.Errorf("middleware: rate limit IPv6Prefix %d: want 0..128", c.IPv6Prefix)
	case c.TrustedHeader != "" && !validToken(c.TrustedHeader):
		return c, fmt.Errorf("middleware: rate limit TrustedHeader %q is not a header name", c.TrustedHeader)
	}
	if c.Rate == 0 {
		c.Rate = 100
	}
	if c.Burst == 0 {
		c.Burst = int(math.Max(1, math.Ceil(c.Rate)))
	}
	if c.MaxClients == 0 {
		c.MaxClients = 100_000
	}
	if c.IPv6Prefix == 0 {
		c.IPv6Prefix = 64
	}
	return c, nil
}

// Validate reports whether c is usable, with the field at fault.
func (c RateLimitConfig) Validate() error {
	_, err := c.withDefaults()
	return err
}

// RateLimiter is the engine-neutral core of RateLimit: token buckets keyed by
// an arbitrary client key, with bounded memory. Time is passed in, so its
// behaviour is a pure function of the calls made. Safe for concurrent use.
//
// Another engine derives the key with ClientIP and AppendClientKey, calls
// AllowBytes(key, time.Now()) and on false answers 429 with
// RetryAfterSeconds(wait).
type RateLimiter struct {
	cfg    RateLimitConfig
	hdrKey string // canonical TrustedHeader
	seed   maphash.Seed
	shards [rateShards]rateShard
}

type rateShard struct {
	mu      sync.Mutex
	clients map[string]*bucket
	lru     bucket // sentinel of a circular list, most recent first
	max     int
}

// bucket is one client's token bucket, also a node of its shard's LRU list.
type bucket struct {
	key        string
	tokens     float64
	last       time.Time
	prev, next *bucket
}

// NewRateLimiter validates cfg and returns a limiter.
func NewRateLimiter(cfg RateLimitConfig) (*RateLimiter, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &RateLimiter{cfg: c, seed: maphash.MakeSeed(), hdrKey: http.CanonicalHeaderKey(c.TrustedHeader)}
	per := max(1, (c.MaxClients+rateShards-1)/rateShards)
	for i := range l.shards {
		s := &l.shards[i]
		s.clients = make(map[string]*bucket)
		s.lru.next, s.lru.prev = &s.lru, &s.lru
		s.max = per
	}
	return l, nil
}

// Config returns the configuration in force, defaults filled in.
func (l *RateLimiter) Config() RateLimitConfig { return l.cfg }

// take is the token bucket as a pure function: it refills b for the time
// since b.last at rate per second up to burst, then takes one token. It
// returns whether the request is allowed and, if not, how long until a token
// is available.
func take(b *bucket, now time.Time, rate float64, burst float64) (bool, time.Duration) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(burst, b.tokens+elapsed.Seconds()*rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	need := (1 - b.tokens) / rate
	return false, time.Duration(math.Ceil(need * float64(time.Second)))
}

// full reports whether b would be full at now, i.e. forgetting it changes
// nothing.
func (l *RateLimiter) full(b *bucket, now time.Time) bool {
	return b.tokens+now.Sub(b.last).Seconds()*l.cfg.Rate >= float64(l.cfg.Burst)
}

// Allow takes a token for key at now. When refused, wait is how long until
// the client has a token again.
func (l *RateLimiter) Allow(key string, now time.Time) (ok bool, wait time.Duration) {
	return l.allow(key, maphash.String(l.seed, key), now)
}

// AllowBytes is Allow for a []byte key; it allocates only when the key is new.
func (l *RateLimiter) AllowBytes(key []byte, now time.Time) (ok bool, wait time.Duration) {
	if len(key) == 0 {
		return l.Allow("", now)
	}
	// The lookup reads key through a string header without copying; allow
	// copies it before storing it, and key is not modified meanwhile.
	return l.allow(unsafe.String(&key[0], len(key)), maphash.Bytes(l.seed, key), now)
}

// allow does the work; k may alias the caller's buffer and is copied before it
// is stored.
func (l *RateLimiter) allow(k string, h uint64, now time.Time) (bool, time.Duration) {
	s := &l.shards[h%rateShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	b, found := s.clients[k]
	if found {
		s.unlink(b)
	} else {
		// Drop clients whose buckets are full again (idle long enough):
		// forgetting them is invisible, and it keeps memory close to the
		// number of active clients. Then make room under the cap.
		for i := 0; i < 2 && s.lru.prev != &s.lru && l.full(s.lru.prev, now); i++ {
			s.evict(s.lru.prev)
		}
		if len(s.clients) >= s.max {
			s.evict(s.lru.prev)
		}
		// Always a copy: k may alias the caller's buffer (AllowBytes),
		// and storing k itself would make every caller's key escape.
		key := strings.Clone(k)
		b = &bucket{key: key, tokens: float64(l.cfg.Burst), last: now}
		s.clients[key] = b
	}
	s.pushFront(b)
	return take(b, now, l.cfg.Rate, float64(l.cfg.Burst))
}

// Len returns the number of clients tracked.
func (l *RateLimiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.clients)
		s.mu.Unlock()
	}
	return n
}

func (s *rateShard) unlink(b *bucket) {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
}

func (s *rateShard) pushFront(b *bucket) {
	b.prev, b.next = &s.lru, s.lru.next
	s.lru.next.prev = b
	s.lru.next = b
}

func (s *rateShard) evict(b *bucket) {
	s.unlink(b)
	delete(s.clients, b.key)
}

// RetryAfterSeconds converts a wait into a Retry-After value: whole seconds,
// rounded up, at least 1.
func RetryAfterSeconds(wait time.Duration) int {
	secs := int((wait + time.Second - 1) / time.Second)
	return max(secs, 1)
}

// RateLimit returns a middleware that limits each client (see
// RateLimitConfig) with a token bucket and answers 429 with Retry-After (whole
// seconds, rounded up) when its bucket is empty, without calling the handler.
// It panics with a "hotpath:" message when cfg is invalid: check it first
// with cfg.Validate or NewRateLimiter.
func RateLimit(cfg RateLimitConfig) Middleware {
	l, err := NewRateLimiter(cfg)
	if err != nil {
		panic(fmt.Errorf("hotpath: %w", err))
	}
	return l.Middleware
}

// Middleware is the net/http adapter of l.
func (l *RateLimiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var hv string
		if l.hdrKey != "" {
			if v := r.Header[l.hdrKey]; len(v) > 0 {
				hv = v[len(v)-1]
			}
		}
		addr, _ := ClientIP(r.RemoteAddr, l.cfg.TrustedHeader, hv)
		var buf [64]byte
		key := AppendClientKey(buf[:0], addr, l.cfg.IPv6Prefix)
		ok, wait := l.AllowBytes(key, time.Now())
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds(wait)))
			plainError(w, http.StatusTooManyRequests, BodyRateLimited)
			return
		}
		next.ServeHTTP(w, r)
	})
}
