"""Tiercel: a Python web framework whose networking layer is C++.

>>> from tiercel import Tiercel
>>> app = Tiercel(__file__)
"""

import orjson as _orjson

from tiercel import _core
from tiercel._core import Headers, QueryParams, Request, Response, Url
from tiercel.app import Tiercel
from tiercel.exceptions import HTTPException

__all__ = ["HTTPException", "Headers", "QueryParams", "Request", "Response", "Tiercel", "Url"]
__version__ = "0.1.0"

_core.set_json_functions(_orjson.dumps, _orjson.loads)
