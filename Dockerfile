# gojvb: a drop-in replacement for the jitsi/jvb image.
#
#   docker build -t gojvb --build-arg VERSION=$(git describe --always) .
#
# Same environment variables as jitsi/jvb (XMPP_SERVER, JVB_AUTH_PASSWORD, JVB_PORT,
# JVB_ADVERTISE_IPS, COLIBRI_REST_ENABLED, ...; see docs/operators.md). Overrides in HOCON go
# in /config/custom-jvb.conf (optional), like jitsi/jvb's.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
        -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/jvb ./cmd/jvb

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/jvb /usr/local/bin/jvb
COPY cmd/jvb/docker/jvb.conf /etc/jitsi/videobridge/jvb.conf
ENV JVB_CONFIG=/etc/jitsi/videobridge/jvb.conf
VOLUME /config
# Media (JVB_PORT) and the private HTTP API (health, stats, metrics, COLIBRI REST).
EXPOSE 10000/udp 8080
USER nonroot:nonroot
HEALTHCHECK --interval=10s --timeout=6s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/jvb", "healthcheck"]
# The private server listens on 0.0.0.0:8080 (set in the image's jvb.conf, like jitsi/jvb);
# `jvb healthcheck` reads the same configuration, so a port changed in custom-jvb.conf is
# followed by the HEALTHCHECK too.
ENTRYPOINT ["/usr/local/bin/jvb"]
