# The idlink image the Kubernetes CronJob in configs/deploy runs: one static
# binary (pure-Go SQLite, no cgo) on an empty base, as a non-root user.
#   docker build -t ghcr.io/idlinkhq/idlink:v0.2.0 --build-arg VERSION=v0.2.0 .
# The first build compiles the Microsoft Graph SDK: minutes, about 5 GB of memory.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/idlink ./cmd/idlink

FROM scratch
# TLS roots for Graph, Entra and Salesforce; the binary needs nothing else.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/idlink /idlink
# 65532: the conventional "nonroot" uid; the CronJob's fsGroup matches it.
USER 65532:65532
ENTRYPOINT ["/idlink"]
