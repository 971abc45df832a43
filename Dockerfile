# Container image for `hotpath serve`. Build: docker build -t hotpath:dev .
# Static binary (no cgo) on distroless: no shell, no package manager, runs as non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/hotpath ./cmd/hotpath
# The ingest log's directory, owned by the image's user (distroless has no shell to mkdir).
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hotpath /hotpath
COPY --from=build --chown=65532:65532 /out/data /data
# POST /ingest stores events in the embedded log under /data, a volume: mount one to keep
# them (deploy/k8s mounts an emptyDir there); HOTPATH_INGEST_SINK=kafka://... or off instead.
ENV HOTPATH_INGEST_SINK=file:/data
VOLUME ["/data"]
# 8080: public listener. 6060: admin (pprof, /metrics) — bound to the pod IP only when
# HOTPATH_ADMIN_ADDR says so, and then protected by HOTPATH_ADMIN_TOKEN.
EXPOSE 8080 6060
# Numeric, so that Kubernetes' runAsNonRoot can verify it (a user name cannot be).
USER 65532:65532
ENTRYPOINT ["/hotpath"]
CMD ["serve"]
