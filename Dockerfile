# faultline: one image with every command (ingest, query, loadgen, faultline-gen, devbroker).
#
#   docker build -t faultline .
#   docker run --rm -e FAULTLINE_KAFKA_BROKERS=kafka:9092 -e FAULTLINE_CLICKHOUSE_ADDR=clickhouse:9000 \
#     -e FAULTLINE_METRICS_LISTEN=0.0.0.0:9464 -p 9464:9464 faultline
#   docker run --rm faultline query top --since 15m     (another command: name it)
#
# The catalog is compiled in (catalog.path empty); mount a file and set FAULTLINE_CATALOG_PATH to
# use another. No HEALTHCHECK: orchestrators probe /healthz and /readyz on metrics.listen, which
# binds loopback unless FAULTLINE_METRICS_LISTEN says otherwise.
# `make image` packs the same binaries, built on the host, into deploy/image/Containerfile.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/ \
      ./cmd/ingest ./cmd/query ./cmd/loadgen ./cmd/faultline-gen ./cmd/devbroker

# distroless static: CA certificates, tzdata, /etc/passwd with nonroot (65532), nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
ENV PATH=/usr/local/bin
USER 65532:65532
WORKDIR /home/nonroot
EXPOSE 9464
# No ENTRYPOINT: the command is the first word (ingest, ingest migrate, query ..., loadgen ...).
CMD ["ingest"]
