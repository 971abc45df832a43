package policy

// Fixed bodies of the refusals the middleware writes (text/plain). Other
// engines write the same bytes from these constants, so every engine answers
// a refusal identically (internal/conformance checks the bytes on each).
const (
	BodyUnauthorized    = "unauthorized\n"                   // Auth: 401
	BodyOverloaded      = "server overloaded, retry later\n" // Shed: 503
	BodyRateLimited     = "rate limit exceeded\n"            // RateLimit: 429
	BodyRequestTooLarge = "request body too large\n"         // MaxBytes: 413
	BodyInternal        = "internal server error\n"          // Recover: 500
)
