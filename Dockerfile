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

# A shell and wget for /usr/local/bin/healthcheck.sh (busybox is a static binary; each copy
# acts as the tool it is named after).
FROM busybox:1.37-musl AS tools
RUN mkdir -p /out/bin && cp /bin/busybox /out/bin/sh && cp /bin/busybox /out/bin/wget

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=tools /out/bin/ /bin/
COPY --from=build /out/jvb /usr/local/bin/jvb
# Like jitsi/jvb's: exit 0 when http://127.0.0.1:8080/about/health answers 200, for probes that
# exec it.
COPY --chmod=0755 scripts/healthcheck.sh /usr/local/bin/healthcheck.sh
COPY cmd/jvb/docker/jvb.conf /etc/jitsi/videobridge/jvb.conf
ENV JVB_CONFIG=/etc/jitsi/videobridge/jvb.conf
# As jitsi/jvb: no JVB_AUTH_PASSWORD is a startup error, not a bridge jicofo never sees
# (JVB_DISABLE_XMPP=1 runs without XMPP: the standalone page).
ENV JVB_REQUIRE_XMPP=1
# As jitsi/jvb: find the public address over STUN at startup (JVB_DISABLE_STUN=1 turns it off).
ENV JVB_STUN_SERVERS=meet-jit-si-turnrelay.jitsi.net:443
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
