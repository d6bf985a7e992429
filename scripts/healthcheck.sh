#!/bin/sh
# /usr/local/bin/healthcheck.sh of the gojvb image: what the jitsi/jvb image's script does.
# Exits 0 when the bridge's /about/health answers 200, non-zero otherwise (an unhealthy answer's
# body is printed). Probes written for jitsi/jvb (`exec: /usr/local/bin/healthcheck.sh`) keep
# working. The optional argument replaces the URL (default: the image's private port).
url=${1:-http://127.0.0.1:8080/about/health}
if command -v curl >/dev/null 2>&1; then
	exec curl --silent --show-error --max-time 5 --fail-with-body "$url"
fi
if command -v wget >/dev/null 2>&1; then
	exec wget -q -T 5 -O - "$url"
fi
# Neither tool: the bridge binary asks its own configured address.
exec /usr/local/bin/jvb healthcheck
