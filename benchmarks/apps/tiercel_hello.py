"""Tiercel hello app for benchmarks/hello.py: GET / (sync handler), GET /async and GET /const."""

from tiercel import Tiercel

app = Tiercel(__file__)


@app.get("/")
def index(request):
    return "Hello, World!"


@app.get("/async")
async def index_async(request):
    return "Hello, World!"


@app.get("/const", const=True)
def index_const(request):
    return "Hello, World!"


if __name__ == "__main__":
    app.start()  # honours TIERCEL_HOST / TIERCEL_PORT environment variables
