"""A Robyn app running on Tiercel: the import lines are the only change.

Everything but the two `from tiercel` lines is Robyn 0.88 code, written the way Robyn's documentation writes it.
In the Robyn original those two lines are one,

    from robyn import Request, Response, Robyn, SubRouter, jsonify

and nothing else differs (tests/test_example_robyn_port.py checks that, and that both answer alike).

Run `python examples/robyn_port/robyn_app.py`, then `curl 127.0.0.1:8080/items/1`.
"""

from tiercel import Request, Response, SubRouter, jsonify
from tiercel import Tiercel as Robyn

app = Robyn(__file__)
ITEMS: dict[str, dict[str, str]] = {}


@app.startup_handler
async def load_items():
    ITEMS["1"] = {"id": "1", "name": "kettle"}
    ITEMS["2"] = {"id": "2", "name": "teapot"}


@app.before_request()
async def require_api_key(request: Request):
    # Reading is open to all; changing anything takes the key.
    if request.method != "GET" and request.headers.get("x-api-key") != "s3cret":
        return Response(status_code=401, headers={}, description="missing or wrong X-API-Key")
    return request


@app.get("/")
async def hello(request: Request):
    name = request.query_params.get("name", "world")
    return f"Hello, {name}!"


@app.get("/items/:id")
async def get_item(request: Request):
    item = ITEMS.get(request.path_params["id"])
    if item is None:
        return Response(status_code=404, headers={}, description="no such item")
    return item


@app.post("/items")
async def add_item(request: Request):
    item = {"id": str(len(ITEMS) + 1), "name": request.json()["name"]}
    ITEMS[item["id"]] = item
    headers = {"Content-Type": "application/json", "Location": f"/items/{item['id']}"}
    return Response(status_code=201, headers=headers, description=jsonify(item))


admin = SubRouter(prefix="/admin")


@admin.get("/stats")
async def stats(request: Request):
    return {"items": len(ITEMS), "names": sorted(item["name"] for item in ITEMS.values())}


app.include_router(admin)

if __name__ == "__main__":
    app.start(port=8080)
