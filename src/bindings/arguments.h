// Handler arguments filled in C++ from a plan computed once at registration (tiercel/params.py): the request's
// parts by name or annotation, injected dependencies, and typed path and query parameters.
#pragma once

#include <memory>

#include "bindings/py_types.h"

namespace tiercel::py {

/// Where an argument comes from; the numbers are tiercel/params.py's.
enum class ArgSource : uint8_t {
  kRequest, kQueryParams, kHeaders, kPathParams, kBody, kMethod, kUrl, kIpAddr, kCookies, kValue,
  kPath, kQuery, kQueryList, kIdentity, kRawBody, kSession, kFormData, kFiles, kJson, kWebSocket,
  kBackgroundTasks,  // the request's BackgroundTasks, made on first use
  // FastAPI's markers and validated models (tiercel/params.py, tiercel/body_plan.py)
  kModel, kBodyField, kHeader, kCookie, kFormField, kFormModel, kFile, kFileList,
};

/// How a path or query value (text) becomes the argument.
enum class Conversion : uint8_t { kStr, kInt, kFloat, kBool, kCall, kLookup };

/// How a value from the request is checked, and how a refusal is described (FastAPI's error shape, a 422 listing
/// every refusal of the request): where it is ("query", "path", "header", "cookie", "body") and under which key,
/// the rules of its marker, what a refused lookup says.
struct ValueCheck {
  nb::object loc, key;             // str
  nb::object gt, ge, lt, le;       // numbers, or null
  Py_ssize_t min_length = -1, max_length = -1;
  nb::object pattern, search;      // the pattern's text and its compiled search, or null
  nb::object refused, expected;    // a lookup's error type ("enum", "literal_error") and its choices, or null
  nb::object explain;              // text -> FastAPI's errors, for a refused conversion by call; or null
  bool raw_bytes = false;          // a File() parameter annotated bytes: the file's content
  bool fastapi = true;             // refused as FastAPI does (a 422 listing all), not as Robyn (a 400 naming one)
};

struct ArgSpec {
  ArgSource source;
  Conversion conv;
  std::string name;
  // kValue: the value; kCall: (callable, description); kLookup: ({text: value}, description); kModel, kFormModel:
  // (decode, validate, refusal); kBodyField: (decode, validate, refusal, attribute, key)
  nb::object extra;
  nb::object dflt;
  bool has_default;
  std::shared_ptr<const ValueCheck> check;  // values taken from the request's text (path, query, header...)
};

struct ArgPlan {
  std::vector<ArgSpec> args;  // positional ones first, in order, then the keyword-only ones
  size_t positional = 0;
  nb::object kwnames;         // a tuple of the keyword-only names, or null
};

/// Builds a plan from (source, name, conversion, extra, default, has_default, keyword[, check]) tuples;
/// ValueError when one is malformed.
std::shared_ptr<const ArgPlan> make_plan(nb::handle args);

/// fn(**arguments of `plan` for `request`): a new reference, or null with a Python error set: the call's own,
/// or, when a value is refused: an instance of `param_error` (message, name), a 400 naming the first plain typed
/// parameter refused (Robyn's way), else a RequestValidationError (errors, body) listing every refusal (FastAPI's).
/// With `prefix`, calls fn(*prefix, **arguments) instead (executor.submit(context.run, handler, ...)).
PyObject* call_with_plan(nb::handle fn, const ArgPlan& plan, nb::handle request, nb::handle param_error,
                         std::vector<PyObject*> prefix = {});

/// The arguments of `plan` for `request`, in order, computed ahead of the call (a WebSocket's, at the upgrade):
/// false with a Python error set as call_with_plan's. A kWebSocket argument is left empty for the caller to fill.
bool plan_arguments(const ArgPlan& plan, nb::handle request, nb::handle param_error, std::vector<nb::object>& out);

/// fn(arguments) with the values plan_arguments made: a new reference, or null with a Python error set.
PyObject* call_planned(nb::handle fn, const ArgPlan& plan, const std::vector<nb::object>& values);

}  // namespace tiercel::py
