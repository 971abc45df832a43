# The README's two commands are `go run ./cmd/hotpath serve` and `make test`.
GO ?= go

.PHONY: test build serve vet fmt
test:
	$(GO) test -race -count=1 -timeout 20m ./...

build:
	$(GO) build -o bin/hotpath ./cmd/hotpath

serve:
	$(GO) run ./cmd/hotpath serve

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')
