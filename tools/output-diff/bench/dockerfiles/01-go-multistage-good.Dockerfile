# syntax=docker/dockerfile:1.7
ARG GO_VERSION=1.22.5
FROM golang:${GO_VERSION}-bookworm@sha256:4f2f8a2c1e8d6b2b7f0e3a9c5d1b6e8f7a2c3d4e5f60718293a4b5c6d7e8f901 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/server ./cmd/server

FROM gcr.io/distroless/static-debian12:nonroot@sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9
COPY --from=build /out/server /server
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["/server", "-healthcheck"]
ENTRYPOINT ["/server"]
