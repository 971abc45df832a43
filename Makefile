# The README's two commands are `go run ./cmd/hotpath serve` and `make test`.
GO ?= go

.PHONY: test tools build serve vet fmt fuzz lab
test: tools
	$(GO) test -race -count=1 -timeout 20m ./...

# Test tools outside the module, pinned, in .tools/bin (git ignores it):
# h2spec, the HTTP/2 conformance suite internal/hostile runs against serve.
H2SPEC_VERSION ?= v2.2.1+incompatible
tools: .tools/bin/h2spec
.tools/bin/h2spec:
	GOBIN=$(CURDIR)/.tools/bin $(GO) install github.com/summerwind/h2spec/cmd/h2spec@$(H2SPEC_VERSION)

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

# The seed's comparisons on this machine, pinned, with a report (docs/lab.md):
# make lab LAB_FLAGS=--quick for a short run.
lab: build
	bin/hotpath lab $(LAB_FLAGS)
