// Logging through the "tiercel" logger for the engine's parts; never raises.
#include "bindings/engine/engine.h"

namespace tiercel::py {

/// Logs `exc` (with its traceback) through the "tiercel" logger.
void log_exception(std::string_view what, std::string_view method, std::string_view path, nb::handle exc) {
  try {
    globals().logger.attr("error")("%s for %s %s", nb::str(what.data(), what.size()),
                                   nb::str(method.data(), method.size()), nb::str(path.data(), path.size()),
                                   nb::arg("exc_info") = exc ? exc : nb::none());
  } catch (...) {
    PyErr_Clear();
  }
}

/// Logs the current Python exception and clears it.
void log_current_exception(std::string_view what, std::string_view method, std::string_view path) {
  log_exception(what, method, path, fetch_exception());
}

void log_warning(const std::string& msg) {
  try {
    globals().logger.attr("warning")(nb::str(msg.c_str()));
  } catch (...) {
    PyErr_Clear();
  }
}

void log_message(const std::string& msg) {
  try {
    globals().logger.attr("error")(nb::str(msg.c_str()));
  } catch (...) {
    PyErr_Clear();
  }
}

}  // namespace tiercel::py
