// StreamingResponse, SSEResponse and SSEMessage: native, so a handler that makes one runs no framework Python.
#include <cmath>

#include "bindings/py_types.h"

namespace tiercel::py {

namespace {

bool utf8_of(nb::handle text, std::string_view& out) {
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(text.ptr(), &n);
  if (!p) {
    PyErr_Clear();
    return false;
  }
  out = std::string_view(p, static_cast<size_t>(n));
  return true;
}

/// "field: value\n" for each line of `value` (an event's data may span lines; CR, LF and CRLF all end a line).
void append_field_lines(std::string& out, std::string_view field, std::string_view value) {
  size_t start = 0;
  for (size_t i = 0; i <= value.size(); ++i) {
    bool end = i == value.size();
    if (!end && value[i] != '\n' && value[i] != '\r') continue;
    out.append(field).append(": ").append(value.substr(start, i - start)).push_back('\n');
    if (!end && value[i] == '\r' && i + 1 < value.size() && value[i + 1] == '\n') ++i;
    start = i + 1;
  }
}

/// orjson's bytes for a dict or list; TypeError/ValueError (orjson's) when it cannot serialise it.
std::string json_text(nb::handle value) {
  nb::object dumped = globals().json_dumps(value);
  return std::string(PyBytes_AS_STRING(dumped.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(dumped.ptr())));
}

/// The text of an SSEMessage field: a str as it is, bytes as UTF-8, dict/list as JSON (data only), else str(v).
std::string field_text(nb::handle v, bool json) {
  if (PyBytes_Check(v.ptr()) || PyByteArray_Check(v.ptr())) {
    nb::object text = nb::steal(PyUnicode_FromEncodedObject(v.ptr(), "utf-8", "strict"));
    if (!text) throw nb::python_error();
    return nb::cast<std::string>(text);
  }
  if (json && (PyDict_Check(v.ptr()) || PyList_Check(v.ptr()))) return json_text(v);
  return nb::cast<std::string>(nb::str(v));
}

/// event/id: omitted when None or empty, as Robyn does; a line break (or NUL) in it would forge other fields.
void append_single_line(std::string& out, const char* field, nb::handle v) {
  if (v.is_none()) return;
  std::string text = field_text(v, false);
  if (text.empty()) return;
  if (text.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
    throw nb::value_error(
        (std::string("an SSE ") + field + " must be one line: no CR, LF or NUL (it would forge other fields)").c_str());
  out.append(field).append(": ").append(text).push_back('\n');
}

/// Python `SSEMessage(data, event=None, id=None, retry=None) -> str`: one server-sent event as SSE text.
std::string sse_message(nb::handle data, nb::handle event, nb::handle id, nb::handle retry) {
  std::string out;
  append_single_line(out, "event", event);
  append_single_line(out, "id", id);
  if (!retry.is_none()) {
    if (!PyLong_Check(retry.ptr()) || PyBool_Check(retry.ptr()))
      throw nb::type_error("an SSE retry is a number of milliseconds (an int)");
    if (nb::cast<long long>(retry) < 0) throw nb::value_error("an SSE retry must not be negative");
    out.append("retry: ").append(std::to_string(nb::cast<long long>(retry))).push_back('\n');
  }
  append_field_lines(out, "data", data.is_none() ? std::string() : field_text(data, true));
  out.push_back('\n');  // the blank line that dispatches the event
  return out;
}

}  // namespace

bool stream_item_bytes(nb::handle item, bool sse, std::string& out, std::string& error) {
  PyObject* o = item.ptr();
  std::string_view text;
  if (PyUnicode_Check(o)) {
    if (!utf8_of(item, text)) {
      error = "a streamed str cannot be encoded as UTF-8";
      return false;
    }
  } else if (PyBytes_Check(o)) {
    text = std::string_view(PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o)));
  } else if (PyByteArray_Check(o)) {
    text = std::string_view(PyByteArray_AS_STRING(o), static_cast<size_t>(PyByteArray_GET_SIZE(o)));
  } else if (sse && (PyDict_Check(o) || PyList_Check(o))) {  // a JSON data event (a Tiercel extension)
    try {
      append_field_lines(out, "data", json_text(item));
    } catch (nb::python_error& e) {
      error = std::string("an SSE dict/list item cannot be serialised to JSON: ") + e.what();
      return false;
    }
    out.push_back('\n');
    return true;
  } else {
    error = sse ? std::string("an SSE item must be SSE text (str, e.g. from SSEMessage), bytes, or a dict/list "
                              "(sent as JSON data), not '") +
                      Py_TYPE(o)->tp_name + "'"
                : std::string("a streamed item must be str or bytes, not '") + Py_TYPE(o)->tp_name + "'";
    return false;
  }
  out.append(text);  // SSE text passes as written, as in Robyn
  return true;
}

void bind_streaming_response(nb::module_& m) {
  nb::class_<StreamingResponse>(m, "StreamingResponse",
                                "A body sent as a sync or async iterator of str/bytes produces it: "
                                "StreamingResponse(gen(), media_type='text/csv').")
      .def(
          "__init__",
          [](StreamingResponse* self, nb::object content, int status_code, nb::handle headers, std::string media_type) {
            if (status_code < 100 || status_code > 999) throw nb::value_error("status_code must be between 100 and 999");
            if (!nb::hasattr(content, "__aiter__") && !nb::hasattr(content, "__iter__"))
              throw nb::type_error("StreamingResponse content is an iterable or an async iterable (a generator)");
            if (PyUnicode_Check(content.ptr()) || PyBytes_Check(content.ptr()))
              throw nb::type_error("StreamingResponse streams an iterable; for a str or bytes body use Response");
            new (self) StreamingResponse();
            self->content = std::move(content);
            self->status_code = status_code;
            Headers h;
            h.update_from(headers);
            self->headers = nb::cast(std::move(h));
            self->media_type = std::move(media_type);
          },
          nb::arg("content"), nb::arg("status_code") = 200, nb::arg("headers") = nb::none(),
          nb::arg("media_type") = "text/plain; charset=utf-8")
      .def_rw("status_code", &StreamingResponse::status_code)
      .def_prop_rw(
          "headers", [](StreamingResponse& r) { return r.headers; },
          [](StreamingResponse& r, nb::handle h) { r.headers = Headers::copy_of(h); })
      .def_ro("content", &StreamingResponse::content)
      .def_rw("media_type", &StreamingResponse::media_type)
      .def("__repr__", [](StreamingResponse& r) {
        return std::string(r.sse ? "<SSEResponse " : "<StreamingResponse ") + std::to_string(r.status_code) + ">";
      });

  m.def(
      "SSEResponse",
      [](nb::object content, nb::handle status_code, nb::handle headers, double ping_interval) {
        if (!nb::hasattr(content, "__aiter__") && !nb::hasattr(content, "__iter__"))
          throw nb::type_error("SSEResponse takes a (sync or async) generator of SSE text (SSEMessage), bytes or dict");
        if (PyUnicode_Check(content.ptr()) || PyBytes_Check(content.ptr()))
          throw nb::type_error("SSEResponse streams a generator; yield the str from it");
        if (!(ping_interval >= 0) || !std::isfinite(ping_interval))
          throw nb::value_error("ping_interval is a number of seconds (0 for no pings)");
        StreamingResponse r;
        r.content = std::move(content);
        r.status_code = status_code.is_none() ? 200 : nb::cast<int>(status_code);
        if (r.status_code < 100 || r.status_code > 999)
          throw nb::value_error("status_code must be between 100 and 999");
        Headers h;
        h.update_from(headers);
        // Robyn's cache headers, unless the handler chose its own: no cache or proxy may hold the events back.
        for (auto [name, value] : {std::pair{"Cache-Control", "no-cache, no-store, must-revalidate"},
                                   std::pair{"Pragma", "no-cache"}, std::pair{"Expires", "0"},
                                   std::pair{"X-Accel-Buffering", "no"}}) {
          if (h.find(name) < 0) h.append(name, value);
        }
        r.headers = nb::cast(std::move(h));
        r.media_type = "text/event-stream";
        r.sse = true;
        r.ping_interval = ping_interval;
        return r;
      },
      nb::arg("content"), nb::arg("status_code").none() = 200, nb::arg("headers") = nb::none(),
      nb::arg("ping_interval") = 15.0,
      nb::sig("def SSEResponse(content: object, status_code: int | None = 200, headers: object | None = None, "
              "ping_interval: float = 15.0) -> StreamingResponse"),
      "Server-sent events from a (sync or async) generator of SSE text (str, as SSEMessage makes it; passed as "
      "written), bytes, or dict/list (each a JSON `data:` event): text/event-stream, Cache-Control: no-cache, "
      "no-store, must-revalidate, Pragma: no-cache, Expires: 0, X-Accel-Buffering: no (each unless `headers` has "
      "it), each event sent when yielded, a `: ping` comment after `ping_interval` idle seconds (0: none).");

  m.def(
      "SSEMessage",
      [](nb::handle data, nb::handle event, nb::handle id, nb::handle retry) {
        return sse_message(data, event, id, retry);
      },
      nb::arg("data").none() = "", nb::arg("event").none() = nb::none(), nb::arg("id").none() = nb::none(),
      nb::arg("retry").none() = nb::none(),
      nb::sig("def SSEMessage(data: object = '', event: object | None = None, id: object | None = None, "
              "retry: int | None = None) -> str"),
      "One server-sent event as SSE text, to yield from an SSEResponse generator: `event: `, `id: `, `retry: ` "
      "lines (event and id omitted when None or empty; a line break in them is refused), then one `data: ` line "
      "per line of `data` (a dict/list as JSON, bytes as UTF-8, anything else as str()), then a blank line.");
}

}  // namespace tiercel::py
