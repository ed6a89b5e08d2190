// The tiercel._core extension module: native types and the engine. Users import from `tiercel`.
#include "bindings/py_types.h"

namespace tiercel::py {

Globals& globals() {
  // Leaked on purpose: these must outlive every engine, and interpreter teardown order is not ours.
  static Globals* g = new Globals();
  return *g;
}

}  // namespace tiercel::py

NB_MODULE(_core, m) {
  using namespace tiercel::py;
  m.doc() = "Tiercel's native engine (private; import from `tiercel`).";
  auto& g = globals();
  g.task_type = nb::module_::import_("asyncio").attr("Task");
  g.get_running_loop = nb::module_::import_("asyncio").attr("get_running_loop");
  g.logger = nb::module_::import_("logging").attr("getLogger")("tiercel");
#if PY_VERSION_HEX >= 0x030C0000
  g.kw_loop = nb::make_tuple("loop", "eager_start");
  g.kw_loop_context = nb::make_tuple("loop", "eager_start", "context");
#else
  g.kw_loop = nb::make_tuple("loop");
  g.kw_loop_context = nb::make_tuple("loop", "context");
#endif
  g.s_done = nb::steal(PyUnicode_InternFromString("done"));
  g.s_result = nb::steal(PyUnicode_InternFromString("result"));
  g.s_cancel = nb::steal(PyUnicode_InternFromString("cancel"));
  g.s_add_done_callback = nb::steal(PyUnicode_InternFromString("add_done_callback"));
  g.s_json = nb::steal(PyUnicode_InternFromString("json"));

  // JSON functions come from tiercel/__init__.py, so that importing _core alone (stub generation in an
  // isolated build environment) needs nothing outside the standard library.
  m.def(
      "set_json_functions",
      [](nb::object dumps, nb::object loads) {
        globals().json_dumps = std::move(dumps);
        globals().json_loads = std::move(loads);
      },
      nb::arg("dumps"), nb::arg("loads"), "Sets the JSON functions (orjson.dumps, orjson.loads).");
  m.def(
      "set_client_errors",
      [](nb::object client_error, nb::object json_error, nb::object validation_error) {
        globals().client_error = std::move(client_error);
        globals().json_error = std::move(json_error);
        globals().validation_error = std::move(validation_error);
      },
      nb::arg("client_error"), nb::arg("json_error"), nb::arg("validation_error"),
      "The exceptions for the framework's own client errors: ClientError(status, detail) and "
      "JSONBodyError(problem).");

  bind_headers(m);
  bind_request(m);
  bind_response(m);
  bind_helpers(m);
  bind_streaming_response(m);
  bind_file_response(m);
  bind_sync_pull(m);
  bind_forms(m);
  bind_websocket(m);
  bind_background_tasks(m);
  bind_engine(m);
  bind_route_checker(m);
}
