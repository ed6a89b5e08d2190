"""The README's first example: run `python examples/hello.py`, then `curl localhost:8080/`."""

from tiercel import Tiercel

app = Tiercel(__file__)


@app.get("/")
async def index(request):
    return "Hello, World!"


@app.get("/users/:user_id")
async def get_user(request):
    return {"id": request.path_params["user_id"]}


@app.post("/users")
async def create_user(request):
    data = request.json()
    return {"id": 1, **data}, 201


if __name__ == "__main__":
    app.start(host="127.0.0.1", port=8080)
