# syntax=docker/dockerfile:1

# Build on the builder's own platform and cross-compile for the target, so a
# multi-platform build (docker buildx build --platform ...) needs no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=v0.0.0-dev
WORKDIR /src

# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY cmd/ cmd/
COPY pkg/ pkg/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/crddemo/crddemo/pkg/version.Version=${VERSION}" \
      -o /out/mydemo-controller ./cmd/mydemo-controller

# A static binary needs no libc and no shell: distroless/static has CA
# certificates, /etc/passwd with the nonroot user, and nothing else.
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/mydemo-controller /mydemo-controller
USER 65532:65532
ENTRYPOINT ["/mydemo-controller"]
