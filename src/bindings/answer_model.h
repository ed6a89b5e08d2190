// FastAPI's response model and default status for a route: what its handler returns (unless it is a response of
// its own) is validated and serialised to JSON by the model's native callables (pydantic's validator and
// serializer, msgspec's convert and Encoder), answered with the route's status.
#pragma once

#include "bindings/py_types.h"

namespace tiercel::py {

struct AnswerModel {
  nb::object validate;  // result -> the model's value (from attributes too), or null: encode the result as it is
  PyTypeObject* exact = nullptr;  // the model's class: a result of exactly that class is encoded without validate
  nb::object exact_owner;         // keeps `exact` alive
  nb::object encode;    // value -> JSON bytes, or null: no response model, only a status
  nb::object headers;   // {"content-type": "application/json"}
  int status = 0;       // the success status (0: 200)
};

/// `result` as the route answers it: a (JSON bytes, status, headers) tuple for a value to serialise, a (result,
/// status) tuple for a status alone, unchanged for a Response, StreamingResponse, FileResponse or tuple. False with
/// a Python error set when the model refuses the value (a bug of the handler: a 500).
bool shape_answer(const AnswerModel& m, nb::object& result);

}  // namespace tiercel::py
