"""Tiercel: a Python web framework whose networking layer is C++.

>>> from tiercel import Tiercel
>>> app = Tiercel(__file__)
"""

import orjson as _orjson

from tiercel import _core, status_codes
from tiercel import exceptions as _exceptions
from tiercel._core import (
    BackgroundTasks,
    Headers,
    QueryParams,
    Request,
    Response,
    SSEMessage,
    SSEResponse,
    StreamingResponse,
    UploadFile,
    Url,
    WebSocket,
    html,
    jsonify,
    redirect,
    serve_file,
    serve_html,
)
from tiercel.app import ALLOW_CORS
from tiercel.authentication import AuthenticationHandler, BearerGetter, Identity, TokenGetter
from tiercel.exceptions import (
    ClientDisconnected,
    HTTPException,
    RequestValidationError,
    TiercelError,
    WebSocketDisconnect,
)
from tiercel.fields import Body, Cookie, File, Form, Header, Path, Query
from tiercel.routers import SubRouter
from tiercel.start import Tiercel
from tiercel.templating import JinjaTemplate
from tiercel.testing import TestClient, TestResponse
from tiercel.types import JsonBody, RequestBody, RequestMethod, RequestURL

WebSocketAdapter = WebSocket  # Robyn's name for the object a WebSocket handler gets

__all__ = [
    "ALLOW_CORS",
    "AuthenticationHandler",
    "BackgroundTasks",
    "BearerGetter",
    "Body",
    "ClientDisconnected",
    "Cookie",
    "File",
    "Form",
    "Header",
    "HTTPException",
    "Identity",
    "Headers",
    "JinjaTemplate",
    "JsonBody",
    "Path",
    "Query",
    "QueryParams",
    "Request",
    "RequestBody",
    "RequestMethod",
    "RequestURL",
    "RequestValidationError",
    "Response",
    "SSEMessage",
    "SSEResponse",
    "StreamingResponse",
    "SubRouter",
    "TestClient",
    "TiercelError",
    "TokenGetter",
    "TestResponse",
    "Tiercel",
    "UploadFile",
    "Url",
    "WebSocket",
    "WebSocketAdapter",
    "WebSocketDisconnect",
    "html",
    "jsonify",
    "redirect",
    "serve_file",
    "serve_html",
    "status_codes",
]
__version__ = "0.1.0"

_core.set_json_functions(_orjson.dumps, _orjson.loads)
_core.set_client_errors(_exceptions.ClientError, _exceptions.JSONBodyError, _exceptions.RequestValidationError)
