// RouteSpec: one handler route as the app compiled it (tiercel/compile.py), handed to Engine::add_routes with
// the others in one call. Read once at start-up; nothing here is touched per request.
#pragma once

#include <nanobind/stl/tuple.h>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bindings/py_types.h"

namespace tiercel::py {

struct RouteSpec {
  using Hook = std::tuple<nb::object, bool, int>;  // (callable, is_async, nargs)
  std::string method;
  std::string path;
  nb::object handler;  // None: a route that is only checked (never dispatched)
  bool is_async = false;
  int nargs = 0;
  nb::object plan;                 // the handler's argument plan (tiercel/params.py), or None: the request alone
  uint64_t stream_body_limit = 0;  // the route streams its body, up to this many bytes; 0: it gets it whole
  nb::object answer;               // (validate, encode, status, exact) of a response model, or None
  bool blocking = false;           // the sync handler runs in the thread pool (set_executor)
  std::vector<std::pair<std::string, std::string>> response_headers;  // the app's global ones, for this route
  std::vector<Hook> before, after;
  nb::object authenticate;  // auth_required: the authentication handler's authenticate(), or None
  bool authenticate_is_async = false;
  nb::object unauthorized;  // what a None from authenticate answers
  bool is_const = false;    // const=True: const_result is the answer, computed once
  nb::object const_result;
};

}  // namespace tiercel::py
