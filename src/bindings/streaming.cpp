// StreamingResponse, SSEResponse and SSEMessage: native, so a handler that makes one runs no framework Python.
#include <cmath>

#include "bindings/common.h"

namespace tiercel::py {

namespace {

/// Python `SSEMessage(data, event=None, id=None, retry=None)`: one server-sent event.
struct SSEMessage {
  nb::object data;
  nb::object event, id, retry;
};

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

/// A single-line field (event, id): a line break in it would forge other fields.
bool single_line(std::string_view v) { return v.find_first_of("\r\n") == std::string_view::npos && v.find('\0') == std::string_view::npos; }

bool sse_data_text(nb::handle data, std::string& scratch, std::string_view& text, std::string& error) {
  if (PyUnicode_Check(data.ptr())) {
    if (!utf8_of(data, text)) {
      error = "SSE data is a str that cannot be encoded as UTF-8";
      return false;
    }
    return true;
  }
  if (PyBytes_Check(data.ptr())) {
    text = std::string_view(PyBytes_AS_STRING(data.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(data.ptr())));
    return true;
  }
  if (PyDict_Check(data.ptr()) || PyList_Check(data.ptr())) {
    try {
      nb::object dumped = globals().json_dumps(data);
      scratch.assign(PyBytes_AS_STRING(dumped.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(dumped.ptr())));
    } catch (nb::python_error& e) {
      error = std::string("SSE data cannot be serialised to JSON: ") + e.what();
      return false;
    }
    text = scratch;
    return true;
  }
  error = std::string("SSE data must be str, bytes, dict or list, not '") + Py_TYPE(data.ptr())->tp_name + "'";
  return false;
}

}  // namespace

bool stream_item_bytes(nb::handle item, bool sse, std::string& out, std::string& error) {
  PyObject* o = item.ptr();
  if (!sse) {
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
    } else {
      error = std::string("a streamed item must be str or bytes, not '") + Py_TYPE(o)->tp_name + "'";
      return false;
    }
    out.append(text);
    return true;
  }
  std::string scratch;
  std::string_view text;
  if (nb::isinstance<SSEMessage>(item)) {
    auto& m = nb::cast<const SSEMessage&>(item);
    if (!m.event.is_none()) {
      std::string_view ev;
      if (!PyUnicode_Check(m.event.ptr()) || !utf8_of(m.event, ev) || !single_line(ev)) {
        error = "an SSE event name is a str on one line";
        return false;
      }
      out.append("event: ").append(ev).push_back('\n');
    }
    if (!m.id.is_none()) {
      std::string id = nb::cast<std::string>(nb::str(m.id));
      if (!single_line(id)) {
        error = "an SSE id must not contain line breaks or NUL";
        return false;
      }
      out.append("id: ").append(id).push_back('\n');
    }
    if (!m.retry.is_none()) {
      if (!PyLong_Check(m.retry.ptr()) || PyBool_Check(m.retry.ptr()) || nb::cast<long long>(m.retry) < 0) {
        error = "an SSE retry is a number of milliseconds (a non-negative int)";
        return false;
      }
      out.append("retry: ").append(std::to_string(nb::cast<long long>(m.retry))).push_back('\n');
    }
    if (!m.data.is_none()) {
      if (!sse_data_text(m.data, scratch, text, error)) return false;
      append_field_lines(out, "data", text);
    }
  } else {
    if (!sse_data_text(item, scratch, text, error)) return false;
    append_field_lines(out, "data", text);
  }
  out.push_back('\n');  // the blank line that dispatches the event
  return true;
}

void bind_streaming(nb::module_& m) {
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
          [](StreamingResponse& r, nb::handle h) {
            Headers tmp;
            tmp.update_from(h);
            r.headers = nb::cast(std::move(tmp));
          })
      .def_ro("content", &StreamingResponse::content)
      .def_rw("media_type", &StreamingResponse::media_type)
      .def("__repr__", [](StreamingResponse& r) {
        return std::string(r.sse ? "<SSEResponse " : "<StreamingResponse ") + std::to_string(r.status_code) + ">";
      });

  m.def(
      "SSEResponse",
      [](nb::object generator, int status_code, nb::handle headers, double ping_interval) {
        if (!nb::hasattr(generator, "__aiter__") && !nb::hasattr(generator, "__iter__"))
          throw nb::type_error("SSEResponse takes a (sync or async) generator of SSEMessage, str or dict");
        if (!(ping_interval >= 0) || !std::isfinite(ping_interval))
          throw nb::value_error("ping_interval is a number of seconds (0 for no pings)");
        StreamingResponse r;
        r.content = std::move(generator);
        r.status_code = status_code;
        Headers h;
        h.update_from(headers);
        r.headers = nb::cast(std::move(h));
        r.media_type = "text/event-stream";
        r.sse = true;
        r.ping_interval = ping_interval;
        return r;
      },
      nb::arg("generator"), nb::arg("status_code") = 200, nb::arg("headers") = nb::none(),
      nb::arg("ping_interval") = 15.0,
      "Server-sent events from a (sync or async) generator of SSEMessage, str or dict/list (JSON data): "
      "text/event-stream, Cache-Control: no-cache, each event sent when yielded, a `: ping` comment after "
      "`ping_interval` idle seconds.");

  nb::class_<SSEMessage>(m, "SSEMessage", "One server-sent event: SSEMessage(data, event=None, id=None, retry=None).")
      .def(
          "__init__",
          [](SSEMessage* self, nb::object data, nb::object event, nb::object id, nb::object retry) {
            new (self) SSEMessage{std::move(data), std::move(event), std::move(id), std::move(retry)};
          },
          nb::arg("data") = nb::none(), nb::arg("event") = nb::none(), nb::arg("id") = nb::none(),
          nb::arg("retry") = nb::none())
      .def_rw("data", &SSEMessage::data)
      .def_rw("event", &SSEMessage::event)
      .def_rw("id", &SSEMessage::id)
      .def_rw("retry", &SSEMessage::retry)
      .def("__repr__", [](SSEMessage& s) { return "SSEMessage(" + nb::cast<std::string>(nb::repr(s.data)) + ")"; });
}

}  // namespace tiercel::py
