"""/openapi.json and the Swagger UI page at /docs over real HTTP: const routes, offline assets, the override file,
--disable-openapi, and a real browser (headless Chromium, network limited to the server) driving "Try it out".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import orjson
import pydantic
import pytest
from openapi_spec_validator import validate

from tiercel import AuthenticationHandler, BearerGetter, Identity, SubRouter, Tiercel
from tiercel.config import resolve
from tiercel.docs_page import ROUTE_COUNT, asset_path, swagger_ui_directory
from tiercel.openapi import OpenAPI, OpenAPIInfo
from tiercel.openapi_document import build_document

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "build" / "artifacts"


class Message(pydantic.BaseModel):
    message: str = pydantic.Field(min_length=1)


class TokenAuth(AuthenticationHandler):
    def authenticate(self, request):
        token = self.token_getter.get_token(request)
        return Identity(claims={"token": token}) if token == "s3cret" else None


def echo_app(file: str = __file__) -> Tiercel:
    """/echo takes a model body, so "Try it out" goes through validation."""
    app = Tiercel(file, openapi=OpenAPI(info=OpenAPIInfo(title="Echo <API>", version="3.0.0")))
    app.configure_authentication(TokenAuth(token_getter=BearerGetter()))

    @app.post("/echo", auth_required=True)
    def echo(request, body: Message):
        """Echo the JSON body.

        Answers what was sent, and the token that authorised it."""
        return {"got": body.model_dump(), "token": request.identity.claims["token"]}

    @app.get("/health", tags=["ops"])
    def health(request):
        return "ok"

    api = SubRouter("/api", tags=["api"])

    @api.get("/users/:id")
    def user(request):
        return {"id": request.path_params["id"]}

    app.include_router(api)
    return app


def test_document_page_and_assets_are_served(serve):
    app = echo_app()
    s = serve(app)
    with httpx.Client(base_url=s.url) as c:
        r = c.get("/openapi.json")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        served = r.json()
        assert served == json.loads(orjson.dumps(build_document(app.openapi, app.compiled_routes())))
        validate(served)
        assert set(served["paths"]) == {"/echo", "/health", "/api/users/{id}"}  # the docs' own routes are not in it
        assert served["paths"]["/echo"]["post"]["security"] == [{"BearerAuth": []}]
        assert r.content == c.get("/openapi.json").content  # bytes made once, at start-up

        page = c.get("/docs")
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "<title>Echo &lt;API&gt; - Swagger UI</title>" in page.text
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert urls and all(u.startswith("/docs/") for u in urls)  # nothing from elsewhere
        for url in urls:
            assert c.get(url).status_code == 200, url
        init = c.get("/docs/swagger-initializer.js")
        assert init.headers["content-type"].startswith("text/javascript")
        assert '"url":"/openapi.json"' in init.text and '"validatorUrl":null' in init.text
        bundle = c.get(asset_path("swagger-ui-bundle.js"))
        assert bundle.content == (swagger_ui_directory() / "swagger-ui-bundle.js").read_bytes()
        assert bundle.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert c.get(asset_path("swagger-ui.css")).headers["content-type"] == "text/css; charset=utf-8"
        assert c.get(asset_path("favicon-32x32.png")).headers["content-type"] == "image/png"
        assert c.get("/docs/swagger-ui-4.0.0/swagger-ui-bundle.js").status_code == 404
    assert swagger_ui_directory().name.startswith("swagger-ui-5.")  # Swagger UI 5 reads OpenAPI 3.1
    assert app.openapi.get_openapi_config() == served


def test_disable_openapi_setting_variable_and_flag(serve, run_script, tmp_path):
    s = serve(echo_app(), disable_openapi=True)
    for path in ("/openapi.json", "/docs", "/docs/swagger-initializer.js", asset_path("swagger-ui-bundle.js")):
        assert httpx.get(s.url + path).status_code == 404
    assert httpx.get(s.url + "/health").text == "ok"
    assert resolve({}, {"TIERCEL_DISABLE_OPENAPI": "1"}).disable_openapi is True
    (tmp_path / "docsapp.py").write_text("from tiercel import Tiercel\napp = Tiercel(__file__)\n"
                                         "app.get('/')(lambda request: 'home')\n")  # fmt: skip
    env = {"PYTHONPATH": str(tmp_path)}
    on = run_script("-m", "tiercel", "docsapp:app", "--port", "0", cwd=str(tmp_path), env=env)
    assert httpx.get(on.url + "/openapi.json").json()["paths"] == {
        "/": {"get": {"summary": "<Lambda>", "operationId": "_lambda___get",
                      "responses": {"200": {"description": "Successful Response"}}}}}  # fmt: skip
    off = run_script("-m", "tiercel", "docsapp:app", "--port", "0", "--disable-openapi", cwd=str(tmp_path), env=env)
    assert httpx.get(off.url + "/openapi.json").status_code == 404
    assert httpx.get(off.url + "/docs").status_code == 404
    assert httpx.get(off.url + "/").text == "home"


def test_openapi_json_beside_the_app_file_overrides_the_document(serve, tmp_path):
    spec = {"openapi": "3.1.0", "info": {"title": "Hand-written", "version": "9"}, "paths": {}}
    (tmp_path / "openapi.json").write_text(json.dumps(spec))
    app = echo_app(str(tmp_path / "app.py"))
    assert app.openapi.openapi_file_override
    s = serve(app)
    assert httpx.get(s.url + "/openapi.json").json() == spec
    assert "Swagger UI" in httpx.get(s.url + "/docs").text

    (tmp_path / "specs").mkdir()
    other = {**spec, "info": {"title": "By path", "version": "1"}}
    (tmp_path / "specs" / "api.json").write_text(json.dumps(other))
    by_path = Tiercel(str(tmp_path / "app.py"), openapi_file_path="specs/api.json")
    by_path.get("/x")(lambda request: "x")
    assert httpx.get(serve(by_path).url + "/openapi.json").json() == other  # the named file wins over openapi.json

    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"broken.json is not JSON"):
        Tiercel(str(tmp_path / "app.py"), openapi_file_path="broken.json")
    with pytest.raises(ValueError, match=r"missing.json: cannot read it"):
        Tiercel(str(tmp_path / "app.py"), openapi_file_path="missing.json")


def test_the_apps_own_routes_win_and_metrics_count_the_docs_routes(serve):
    app = Tiercel(__file__)
    app.get("/docs")(lambda request: "my docs")
    app.get("/metrics-check")(lambda request: "m")
    s = serve(app, metrics="/metrics")
    assert httpx.get(s.url + "/docs").text == "my docs"
    assert httpx.get(s.url + "/openapi.json").json()["paths"]["/docs"]["get"]["operationId"] == "_lambda__docs_get"
    assert httpx.get(s.url + asset_path("swagger-ui.css")).status_code == 200
    assert "tiercel_requests_total" in httpx.get(s.url + "/metrics").text
    assert ROUTE_COUNT == 6


# ---- a real browser (the `browser` fixture is in conftest.py) ------------------------------------------


def requested_urls(driver) -> set[str]:
    """Every URL the page asked for (from the DevTools performance log)."""
    urls = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    return urls


def test_swagger_ui_offline_authorize_and_try_it_out(serve, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    s = serve(echo_app())
    wait = WebDriverWait(browser, 20)
    browser.get(s.url + "/docs")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock-post")))
    assert "Echo <API>" in browser.find_element(By.CSS_SELECTOR, ".info .title").text
    tags = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".opblock-tag")]
    assert tags == ["default", "ops", "api"]

    browser.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize").click()  # the bearer scheme's dialog
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".modal-ux input"))).send_keys("s3cret")
    browser.find_element(By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper .authorize").click()
    browser.find_element(By.CSS_SELECTOR, ".modal-ux .btn-done").click()

    browser.find_element(By.CSS_SELECTOR, ".opblock-post .opblock-summary").click()
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".opblock-post .try-out__btn"))).click()
    body = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock-post textarea.body-param__text")))
    body.send_keys(Keys.CONTROL, "a")
    body.send_keys(Keys.DELETE)
    body.send_keys('{"message": "hello from the docs"}')
    browser.find_element(By.CSS_SELECTOR, ".opblock-post .execute").click()
    status = wait.until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status")))  # fmt: skip
    answer = browser.find_element(By.CSS_SELECTOR, ".live-responses-table tbody .response-col_description pre")
    assert status.text == "200"
    assert json.loads(answer.text) == {"got": {"message": "hello from the docs"}, "token": "s3cret"}
    curl = browser.find_element(By.CSS_SELECTOR, ".opblock-post .curl-command").text
    assert "Authorization: Bearer s3cret" in curl

    own = [u for u in requested_urls(browser) if not u.startswith(("data:", s.url + "/"))]
    assert own == [], f"the page asked for other hosts: {own}"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []

    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", answer)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "docs.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot of /docs after Try it out: {shot}")
    assert shot.stat().st_size > 10_000


def test_swagger_ui_shows_every_operation_and_schema_of_a_large_document(serve, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    from test_openapi import shop_app

    shop = shop_app()
    document = build_document(shop.openapi, shop.compiled_routes())
    s = serve(shop)
    browser.get(s.url + "/docs")
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    shown = {(b.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text,
              b.find_element(By.CSS_SELECTOR, ".opblock-summary [data-path]").get_attribute("data-path"))
             for b in browser.find_elements(By.CSS_SELECTOR, ".opblock")}  # fmt: skip
    assert shown == {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    top = ".models article[data-json-schema-level='0'] .json-schema-2020-12__title"  # each schema's name
    titles = browser.find_elements(By.CSS_SELECTOR, top)
    models = {t.text for t in titles}
    assert models == set(document["components"]["schemas"])
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
