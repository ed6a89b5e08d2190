"""Robyn hello app (as Robyn's docs write it): GET / and a const route GET /const. 1 process, 1 worker."""

import os

from robyn import Robyn

app = Robyn(__file__)


@app.get("/")
def index(request):
    return "Hello, World!"


@app.get("/const", const=True)
def index_const(request):
    return "Hello, World!"


if __name__ == "__main__":
    app.start(host=os.environ["BENCH_HOST"], port=int(os.environ["BENCH_PORT"]))
