"""A production setup: this app runs in two worker processes behind nginx, which terminates TLS, with
Prometheus metrics. run.sh starts it with the production command line, nginx.conf is nginx's side, README.md
explains both.

Try it without nginx: `sh examples/production/run.sh`, then `curl 127.0.0.1:8000/health` and
`curl 127.0.0.1:8000/metrics`. (`python examples/production/production_app.py` runs one process, for development.)
"""

import os

from tiercel import Tiercel

app = Tiercel(__file__)


@app.get("/health")
def health(request):
    """For the load balancer and the uptime checks; `worker` tells which process answered."""
    return {"status": "ok", "worker": os.getpid()}


@app.get("/")
def index(request):
    # Behind a trusted proxy, the client's address and scheme come from X-Forwarded-For / X-Forwarded-Proto.
    return {"client": request.ip_addr, "scheme": request.url.scheme, "worker": os.getpid()}


if __name__ == "__main__":
    app.start(host="127.0.0.1", port=8000)
