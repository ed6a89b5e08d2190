#!/usr/bin/env bash
# Installs what `python -m benchmarks run` needs on a fresh Debian machine, on top of scripts/install.sh
# (which builds Tiercel into .venv):
#   apt: wrk (load generator), nghttp2-client (h2load: the load generator of the TLS scenarios), nginx-light (the
#        nginx peer), postgresql (initdb/pg_ctl/psql for the runner's throwaway cluster), util-linux (taskset, runuser)
#   pip: the peers, asyncpg, jinja2, matplotlib and trustme (the TLS scenarios' certificates) pinned in
#        benchmarks/requirements.txt, into .venv
# The runner starts its own PostgreSQL cluster and nginx; the system services the packages may start are not used.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/apt.sh
apt_install nginx-light postgresql wrk nghttp2-client util-linux

if [ ! -x .venv/bin/python ]; then
  echo "setup.sh: .venv not found; run scripts/install.sh first (it builds Tiercel into .venv)" >&2
  exit 1
fi
.venv/bin/pip install -q -r benchmarks/requirements.txt
echo "setup.sh: done; run: .venv/bin/python -m benchmarks run --quick"
