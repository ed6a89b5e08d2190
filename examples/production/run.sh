#!/bin/sh
# Starts production_app.py as in production: two worker processes (a supervisor restarts any that dies),
# listening on 127.0.0.1 for nginx only, believing X-Forwarded-For / X-Forwarded-Proto from nginx (127.0.0.1)
# and from nobody else, Prometheus metrics at /metrics, one access-log line per request.
#
#   sh examples/production/run.sh              # on 127.0.0.1:8000
#   PORT=9000 sh examples/production/run.sh    # another port
#
# SIGTERM (systemd's stop) finishes the requests in flight, then exits; SIGHUP replaces the workers one by one.
set -eu
cd "$(dirname "$0")"
exec tiercel production_app:app \
    --host 127.0.0.1 --port "${PORT:-8000}" \
    --processes 2 \
    --proxy-headers --forwarded-allow-ips 127.0.0.1 \
    --metrics /metrics \
    --access-log
