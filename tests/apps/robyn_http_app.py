"""A bookshelf HTTP API written for Robyn 0.88 from its documentation, run by test_robyn_port.py on Tiercel.

Only the import lines differ between the two frameworks: TIERCEL_PORT_TARGET=robyn runs this file on Robyn itself
(with Robyn installed), anything else on Tiercel. Everything below the imports is plain Robyn code.
"""

import asyncio
import os
import time
from pathlib import Path

if os.environ.get("TIERCEL_PORT_TARGET") == "robyn":
    from robyn import (
        ALLOW_CORS,
        AuthenticationHandler,
        Request,
        Response,
        Robyn,
        SSEMessage,
        SSEResponse,
        StreamingResponse,
        SubRouter,
        html,
        jsonify,
        serve_file,
        status_codes,
    )
    from robyn.authentication import BearerGetter, Identity
    from robyn.exceptions import HTTPException
    from robyn.types import Body, JsonBody, PathParams
else:
    from tiercel import (
        ALLOW_CORS,
        AuthenticationHandler,
        Request,
        Response,
        SSEMessage,
        SSEResponse,
        StreamingResponse,
        SubRouter,
        html,
        jsonify,
        serve_file,
        status_codes,
    )
    from tiercel import Tiercel as Robyn
    from tiercel.authentication import BearerGetter, Identity
    from tiercel.exceptions import HTTPException
    from tiercel.types import Body, JsonBody, PathParams

HERE = Path(__file__).parent
NOTES = str(HERE / "robyn_notes.txt")

app = Robyn(__file__)

# ---- shared state, filled by the start-up handler -------------------------------------------------------------------
BOOKS: dict = {}
EVENTS: list = []
SETTINGS = {"shelf": "north wing", "page_size": 2}

app.inject_global(settings=SETTINGS)
app.inject(catalog_name="main catalogue")


@app.startup_handler
async def open_shelf():
    await asyncio.sleep(0)
    BOOKS.update(
        {
            1: {"id": 1, "title": "Dune", "author": "Herbert"},
            2: {"id": 2, "title": "Emma", "author": "Austen"},
            3: {"id": 3, "title": "Persuasion", "author": "Austen"},
        }
    )
    EVENTS.append("startup")
    print("shelf opened", flush=True)


@app.shutdown_handler
def close_shelf():
    print(f"shelf closed with {len(BOOKS)} books", flush=True)


# ---- app-wide behaviour ---------------------------------------------------------------------------------------------
ALLOW_CORS(app, origins=["https://shelf.example"])
app.add_response_header("X-Shelf-Version", "1")


@app.before_request()
def stamp_request(request: Request):
    request.headers.set("X-Seen-By", "shelf")
    return request


@app.after_request()
def stamp_response(response: Response):
    response.headers.set("X-Handled", "yes")
    return response


@app.before_request("/admin")
def admin_only(request: Request):
    if request.headers.get("X-Admin") != "letmein":
        return Response(status_code=403, headers={"Content-Type": "text/plain"}, description="admins only")
    return request


@app.after_request("/books")
def count_listing(response: Response):
    response.headers.set("X-Book-Count", str(len(BOOKS)))
    return response


@app.exception
def on_error(error):
    if isinstance(error, HTTPException):
        return Response(
            status_code=error.status_code,
            headers={"Content-Type": "application/json"},
            description=jsonify({"error": error.detail}),
        )
    return Response(
        status_code=500,
        headers={"Content-Type": "application/json"},
        description=jsonify({"error": "internal", "kind": type(error).__name__}),
    )


# ---- routes ---------------------------------------------------------------------------------------------------------
@app.get("/", const=True)
def index():
    return "Shelf API"


@app.get("/health")
def health():
    return {"status": "ok", "books": len(BOOKS), "events": EVENTS}


@app.get("/books")
async def list_books(request: Request):
    author = request.query_params.get("author", None)
    limit = int(request.query_params.get("limit", "10"))
    books = [b for b in BOOKS.values() if author is None or b["author"] == author]
    return {"books": books[:limit], "seen_by": request.headers.get("X-Seen-By")}


@app.get("/books/:id")
def get_book(request: Request):
    book_id = int(request.path_params["id"])
    if book_id not in BOOKS:
        raise HTTPException(status_code=404, detail=f"no book {book_id}")
    return BOOKS[book_id]


@app.post("/books")
async def add_book(request: Request):
    data = request.json()
    if "title" not in data:
        return Response(
            status_code=status_codes.HTTP_422_UNPROCESSABLE_ENTITY,
            headers={"Content-Type": "application/json"},
            description=jsonify({"error": "title is required"}),
        )
    book_id = max(BOOKS) + 1
    BOOKS[book_id] = {"id": book_id, "title": data["title"], "author": data.get("author", "unknown")}
    return Response(
        status_code=status_codes.HTTP_201_CREATED,
        headers={"Content-Type": "application/json", "Location": f"/books/{book_id}"},
        description=jsonify(BOOKS[book_id]),
    )


@app.put("/books/:id")
def replace_book(request: Request, body: JsonBody):
    book_id = int(request.path_params["id"])
    BOOKS[book_id] = {"id": book_id, "title": body["title"], "author": body.get("author", "unknown")}
    return BOOKS[book_id]


@app.patch("/books/:id")
async def rename_book(request: Request):
    book_id = int(request.path_params["id"])
    BOOKS[book_id]["title"] = request.json()["title"]
    return jsonify(BOOKS[book_id])


@app.delete("/books/:id")
def delete_book(request: Request):
    BOOKS.pop(int(request.path_params["id"]), None)
    return Response(status_code=204, headers={}, description="")


@app.get("/search")
def search(q: str, page: int = 1, exact: bool = False):
    return {"q": q, "page": page, "exact": exact}


@app.get("/shelves/:shelf/rows/:row")
def locate(path_params: PathParams):
    return {"shelf": path_params["shelf"], "row": path_params["row"]}


@app.post("/raw")
def raw_body(body: Body):
    return f"got {len(body)} characters"


@app.get("/created")
def created():
    return "made", {"X-Kind": "tuple"}, 201


@app.get("/teapot")
def teapot():
    return Response(
        status_code=status_codes.HTTP_418_IM_A_TEAPOT, headers={"X-Brew": "earl grey"}, description="short and stout"
    )


@app.get("/page")
def page():
    return html("<h1>Shelf</h1>")


@app.get("/notes")
def notes():
    return serve_file(NOTES)


@app.get("/notes/download")
def download_notes():
    return serve_file(NOTES, file_name="shelf-notes.txt")


@app.get("/about")
def about(global_dependencies, router_dependencies):
    return {"shelf": global_dependencies["settings"]["shelf"], "catalog": router_dependencies["catalog_name"]}


@app.get("/admin/stats")
def admin_stats():
    return {"books": len(BOOKS)}


@app.get("/admin")
def admin_home():
    return "admin home"


@app.post("/whoami")
async def whoami(request: Request):
    return {
        "method": request.method,
        "path": request.url.path,
        "ip": request.ip_addr,
        "agent": request.headers.get("User-Agent"),
        "text": request.body,
    }


@app.post("/login")
def login(request: Request):
    user = request.form_data.get("user", "")
    response = Response(status_code=200, headers={"Content-Type": "text/plain"}, description=f"hello {user}")
    response.set_cookie("shelf_user", user, path="/", http_only=True, same_site="Lax")
    return response


@app.get("/tags")
def tags(request: Request):
    return {"tags": request.query_params.get_all("tag"), "all": request.query_params.to_dict()}


@app.get("/typed/:book_id")
def typed_book(book_id: int):
    return {"id": book_id, "kind": type(book_id).__name__}


@app.get("/raw-events")
def raw_events():
    def lines():
        yield "data: first\n\n"
        yield "event: done\ndata: second\n\n"

    return SSEResponse(lines())


@app.get("/blob")
def blob():
    def parts():
        yield b"\x00\x01"
        yield b"\x02"

    return StreamingResponse(parts(), media_type="application/octet-stream")


@app.after_request("/audit")
def audit_after(request: Request, response: Response):
    response.headers.set("X-Audited", request.method)
    return response


@app.get("/audit")
def audit():
    return "audited"


@app.get("/crash")
def crash():
    raise RuntimeError("the shelf fell over")


@app.get("/events")
def events():
    def ticks():
        for i in range(3):
            yield SSEMessage(f"tick {i}", event="tick", id=str(i + 1))
            time.sleep(0.01)

    return SSEResponse(ticks())


@app.get("/events/async")
async def async_events():
    async def updates():
        for title in ("Dune", "Emma"):
            yield SSEMessage(f"added {title}")
            await asyncio.sleep(0.01)

    return SSEResponse(updates())


@app.get("/export")
async def export():
    async def rows():
        yield "id,title\n"
        for book in BOOKS.values():
            yield f"{book['id']},{book['title']}\n"

    return StreamingResponse(rows(), media_type="text/csv")


# ---- a versioned API with its own authentication --------------------------------------------------------------------
class TokenAuth(AuthenticationHandler):
    def authenticate(self, request: Request):
        token = self.token_getter.get_token(request)
        if token == "reader-token":
            return Identity(claims={"user": "ada"})
        return None


api = SubRouter(prefix="/api/v1")
api.configure_authentication(TokenAuth(token_getter=BearerGetter()))
api.inject(per_page=2)


@api.get("/ping")
def ping():
    return {"pong": True}


@api.get("/me", auth_required=True)
def me(request: Request):
    return {"user": request.identity.claims["user"]}


@api.get("/books", auth_required=True)
async def api_books(request: Request, router_dependencies):
    per_page = router_dependencies["per_page"]
    return {"user": request.identity.claims["user"], "books": list(BOOKS.values())[:per_page]}


app.include_router(api)
app.serve_directory(route="/static", directory_path=str(HERE / "robyn_static"), index_file="index.html")

if __name__ == "__main__":
    app.start(host="127.0.0.1", port=int(os.environ.get("TIERCEL_PORT", "8080")))
