# The README's two commands are `go run ./cmd/hotpath serve` and `make test`.
GO ?= go

.PHONY: test build serve vet fmt fuzz serve-cost
test:
	$(GO) test -race -count=1 -timeout 20m ./...

# CGO_ENABLED=0 as in the Dockerfile: a static binary maps no libc (~1.5 MB less RSS).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/hotpath ./cmd/hotpath

serve:
	$(GO) run ./cmd/hotpath serve

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Short local fuzzing of the server's parsers (CI runs the seed corpus as tests).
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParseDelay -fuzztime=$(FUZZTIME) ./service
	$(GO) test -run='^$$' -fuzz=FuzzValidate -fuzztime=$(FUZZTIME) ./server
	$(GO) test -run='^$$' -fuzz=FuzzIsLoopback -fuzztime=$(FUZZTIME) ./server

# Pinned CPU-per-request and idle RSS of `hotpath serve` vs bare net/http (docs/serve.md).
serve-cost:
	scripts/serve-cost.sh
