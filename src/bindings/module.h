// The Python module's shared ground: nanobind, the objects looked up once at import (Globals), the small helpers
// every binding file uses, and the functions that bind each file's classes into tiercel._core (module.cpp).
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>
#include <nanobind/stl/pair.h>

#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>


#include "core/field_syntax.h"  // ascii_iequal, trim_ows, http_date

namespace nb = nanobind;

namespace tiercel::py {

/// Objects looked up once at import: orjson's functions, asyncio.Task, the logger.
struct Globals {
  nb::object json_dumps;
  nb::object json_loads;
  nb::object task_type;
  nb::object logger;
  nb::object kw_loop;           // ("loop",) or ("loop", "eager_start") kwnames for Task(...)
  nb::object kw_loop_context;   // the same with "context" appended
  nb::object s_done, s_result, s_cancel, s_add_done_callback, s_json;  // interned method names
  nb::object get_running_loop;  // asyncio.get_running_loop
  nb::object http_exception;     // tiercel.HTTPException (set by the engine)
  // tiercel.exceptions.ClientError and JSONBodyError (set at import): the framework's own client errors (malformed
  // forms, bodies too large or too slow) and request.json()'s on a body that is not JSON.
  nb::object client_error, json_error;
  nb::object validation_error;  // tiercel.RequestValidationError(errors, body): FastAPI's 422
  size_t form_spill_size = 1 << 20;  // uploaded files larger than this are kept in a temporary file
};
Globals& globals();

/// CLOCK_MONOTONIC in seconds (the clock asyncio's loops use).
/// The current Python exception, normalised, with its traceback attached; cleared (null when none is set).
inline nb::object fetch_exception() {
  PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return nb::steal(value);
}

inline double monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Each binding file's classes and functions, added to tiercel._core by module.cpp.
void bind_headers(nb::module_& m);
void bind_request(nb::module_& m);
void bind_response(nb::module_& m);
void bind_helpers(nb::module_& m);
void bind_engine(nb::module_& m);
void bind_background_tasks(nb::module_& m);
void bind_streaming_response(nb::module_& m);
void bind_file_response(nb::module_& m);
void bind_sync_pull(nb::module_& m);
void bind_forms(nb::module_& m);
void bind_websocket(nb::module_& m);
void bind_route_checker(nb::module_& m);

}  // namespace tiercel::py
