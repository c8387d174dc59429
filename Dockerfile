# syntax=docker/dockerfile:1
#
# reupload in a container: a static binary on distroless/static, which
# carries the CA certificates (/etc/ssl/certs/ca-certificates.crt) that the
# HTTPS calls to ICE and OSS need, and nothing else.
#
#   docker build -t reupload .
#   docker run --rm -e ALIBABA_CLOUD_ACCESS_KEY_ID -e ALIBABA_CLOUD_ACCESS_KEY_SECRET \
#     -v "$PWD:/data" -w /data reupload put MEDIA_ID video.mp4 --state-dir /data/.reupload

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS TARGETARCH
# CGO off: a static binary that needs no libc in the final image. The
# repository's .git comes along (see .dockerignore), so `reupload version`
# names the revision.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/reupload ./cmd/reupload

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/reupload /reupload
# 65532 is distroless's "nonroot"; numeric, so Kubernetes' runAsNonRoot can
# check it. Its HOME is /home/nonroot; mount a volume for --state-dir to
# keep checkpoints across pods.
USER 65532:65532
ENTRYPOINT ["/reupload"]
