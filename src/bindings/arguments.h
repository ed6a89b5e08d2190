// Handler arguments filled in C++ from a plan computed once at registration (tiercel/params.py): the request's
// parts by name or annotation, injected dependencies, and typed path and query parameters.
#pragma once

#include <memory>

#include "bindings/common.h"

namespace tiercel::py {

/// Where an argument comes from; the numbers are tiercel/params.py's.
enum class ArgSource : uint8_t {
  kRequest, kQueryParams, kHeaders, kPathParams, kBody, kMethod, kUrl, kIpAddr, kCookies, kValue,
  kPath, kQuery, kQueryList, kIdentity, kRawBody, kSession, kFormData, kFiles, kJson, kWebSocket,
};

/// How a path or query value (text) becomes the argument.
enum class Conversion : uint8_t { kStr, kInt, kFloat, kBool, kCall, kLookup };

struct ArgSpec {
  ArgSource source;
  Conversion conv;
  std::string name;
  nb::object extra;  // kValue: the value; kCall: (callable, description); kLookup: ({text: value}, description)
  nb::object dflt;
  bool has_default;
};

struct ArgPlan {
  std::vector<ArgSpec> args;  // positional ones first, in order, then the keyword-only ones
  size_t positional = 0;
  nb::object kwnames;         // a tuple of the keyword-only names, or null
};

/// Builds a plan from (source, name, conversion, extra, default, has_default, keyword) tuples; ValueError when
/// one is malformed.
std::shared_ptr<const ArgPlan> make_plan(nb::handle args);

/// fn(**arguments of `plan` for `request`): a new reference, or null with a Python error set: the call's own,
/// or an instance of `param_error` (message, name) when a path or query value is missing or refused.
/// With `prefix`, calls fn(*prefix, **arguments) instead (executor.submit(context.run, handler, ...)).
PyObject* call_with_plan(nb::handle fn, const ArgPlan& plan, nb::handle request, nb::handle param_error,
                         std::vector<PyObject*> prefix = {});

/// The arguments of `plan` for `request`, in order, computed ahead of the call (a WebSocket's, at the upgrade):
/// false with a Python error set as call_with_plan's. A kWebSocket argument is left empty for the caller to fill.
bool plan_arguments(const ArgPlan& plan, nb::handle request, nb::handle param_error, std::vector<nb::object>& out);

/// fn(arguments) with the values plan_arguments made: a new reference, or null with a Python error set.
PyObject* call_planned(nb::handle fn, const ArgPlan& plan, const std::vector<nb::object>& values);

}  // namespace tiercel::py
