// Response and the conversion of handler results (str, bytes, dict/list, Response, tuples) to wire form.
#include "bindings/py_types.h"
#include "core/response_writer.h"

#include <cstdio>
#include <ctime>

namespace tiercel::py {

namespace {

constexpr std::string_view kText = "Content-Type: text/plain; charset=utf-8\r\n";
constexpr std::string_view kBinary = "Content-Type: application/octet-stream\r\n";
constexpr std::string_view kJson = "Content-Type: application/json\r\n";

/// Body of a result: str -> UTF-8, bytes as is, dict/list -> JSON. Sets the default Content-Type line.
bool render_body(nb::handle body, Rendered& out, std::string_view& content_type, std::string& error) {
  PyObject* o = body.ptr();
  if (PyUnicode_CheckExact(o) || PyUnicode_Check(o)) {
    Py_ssize_t n = 0;
    const char* p = PyUnicode_AsUTF8AndSize(o, &n);
    if (!p) {
      PyErr_Clear();
      error = "the handler returned a str that cannot be encoded as UTF-8";
      return false;
    }
    out.body_owner = nb::borrow(body);
    out.body = std::string_view(p, static_cast<size_t>(n));
    content_type = kText;
    return true;
  }
  if (PyBytes_Check(o)) {
    out.body_owner = nb::borrow(body);
    out.body = std::string_view(PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o)));
    content_type = kBinary;
    return true;
  }
  if (PyDict_Check(o) || PyList_Check(o)) {
    PyObject* args[2] = {nullptr, o};
    PyObject* r = PyObject_Vectorcall(globals().json_dumps.ptr(), args + 1, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
    if (!r) {
      nb::python_error e;  // takes (and clears) the Python error
      error = std::string("the handler returned a dict/list that cannot be serialised to JSON: ") + e.what();
      return false;
    }
    out.body_owner = nb::steal(r);
    out.body = std::string_view(PyBytes_AS_STRING(r), static_cast<size_t>(PyBytes_GET_SIZE(r)));
    content_type = kJson;
    return true;
  }
  if (o == Py_None) {
    out.body = {};
    content_type = {};
    return true;
  }
  error = std::string("cannot send a value of type '") + Py_TYPE(o)->tp_name +
          "'; return str, bytes, dict, list, Response, or a tuple (body, status[, headers])";
  return false;
}

/// Strict decimal (RFC 9110 §8.6): digits only, no sign, no list, fits in int64.
bool parse_length(std::string_view v, int64_t& out) {
  v = trim_ows(v);
  if (v.empty() || v.size() > 18) return false;
  int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  out = n;
  return true;
}

bool append_headers(const Headers& h, Rendered& out, bool& has_content_type, std::string& error) {
  for (auto& [name, value] : h.items) {
    if (!is_header_name(name) || !is_header_value(value)) {
      error = "invalid response header '" + name + "': names must be tokens and values must not contain CR, LF or NUL";
      return false;
    }
    // Framing is the server's job: the handler's framing fields are checked (framed_length), never sent as given.
    if (ascii_iequal(name, "content-length")) {
      int64_t n = -1;
      if (!parse_length(value, n) || (out.content_length >= 0 && out.content_length != n)) {
        error = "invalid Content-Length '" + value + "' in the response's headers: one decimal number of bytes "
                "(or leave it out: the server sets it)";
        return false;
      }
      out.content_length = n;
      continue;
    }
    if (ascii_iequal(name, "transfer-encoding")) {
      if (!out.transfer_encoding.empty()) out.transfer_encoding += ", ";
      out.transfer_encoding += trim_ows(value);
      continue;
    }
    if (ascii_iequal(name, "connection")) continue;  // hop-by-hop: the server manages the connection
    if (ascii_iequal(name, "content-type")) has_content_type = true;
    out.header_lines.append(name).append(": ").append(value).append("\r\n");
  }
  return true;
}

bool headers_from(nb::handle src, Headers& tmp, const Headers*& out, std::string& error) {
  if (nb::isinstance<Headers>(src)) {
    out = &nb::cast<const Headers&>(src);
    return true;
  }
  try {
    tmp.update_from(src);
  } catch (const nb::python_error& e) {
    error = e.what();
    return false;
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
  out = &tmp;
  return true;
}

/// ValueError unless `status` is a three-digit HTTP status code.
void check_status(int status) {
  if (status < 100 || status > 999) throw nb::value_error("status_code must be between 100 and 999");
}

bool status_from(nb::handle h, int& status, std::string& error) {
  if (!PyLong_Check(h.ptr()) || PyBool_Check(h.ptr())) return false;
  long v = PyLong_AsLong(h.ptr());
  if (v < 100 || v > 999) {
    PyErr_Clear();
    error = "status code " + nb::cast<std::string>(nb::str(h)) + " is out of range 100-999";
    return false;
  }
  status = static_cast<int>(v);
  return true;
}

bool render_parts(nb::handle body, int status, nb::handle headers, Rendered& out, std::string& error) {
  std::string_view ct;
  if (!render_body(body, out, ct, error)) return false;
  out.status = status;
  bool has_ct = false;
  if (!headers.is_none()) {
    Headers tmp;
    const Headers* h = nullptr;
    if (!headers_from(headers, tmp, h, error)) return false;
    if (!append_headers(*h, out, has_ct, error)) return false;
  }
  // No body, no Content-Type (RFC 9110 §15.3.5): the default is not added to a 1xx, 204 or 304.
  if (!has_ct && !ct.empty() && !bodyless_status(status)) out.header_lines.insert(0, ct);
  return true;
}

/// A body returned on its own: status 200 and the body's default Content-Type.
bool render_bare(nb::handle body, Rendered& out, std::string& error) {
  std::string_view ct;
  if (!render_body(body, out, ct, error)) return false;
  out.status = 200;
  out.header_lines.assign(ct);
  return true;
}

}  // namespace

namespace {

/// Splits a handler result into body, status and headers (None when the result has none); a body returned on its
/// own is the result itself. False, with a message saying what to return, when the result has no valid shape.
bool result_parts(nb::handle result, nb::handle& body, int& status, nb::handle& headers, std::string& error) {
  PyObject* o = result.ptr();
  body = result;
  status = 200;
  headers = nb::none();
  if (nb::isinstance<Response>(result)) {
    auto& r = nb::cast<const Response&>(result);
    body = r.description;
    status = r.status_code;
    headers = r.headers;
    if (status < 100 || status > 999) {
      error = "the Response's status_code " + std::to_string(status) + " is out of range 100-999";
      return false;
    }
    return true;
  }
  if (PyTuple_Check(o)) {
    Py_ssize_t n = PyTuple_GET_SIZE(o);
    if (n == 2 || n == 3) {
      body = PyTuple_GET_ITEM(o, 0);
      nb::handle second = PyTuple_GET_ITEM(o, 1);
      if (n == 2 && status_from(second, status, error)) return true;
      if (n == 3) {
        nb::handle third = PyTuple_GET_ITEM(o, 2);
        // (body, status, headers) and Robyn's (body, headers, status).
        if (status_from(second, status, error)) {
          headers = third;
          return true;
        }
        if (error.empty() && status_from(third, status, error)) {
          headers = second;
          return true;
        }
      }
      if (error.empty())
        error = "a tuple result must be (body, status), (body, status, headers) or (body, headers, status) "
                "with an int status";
      return false;
    }
    error = "a tuple result must have 2 or 3 items: (body, status[, headers])";
    return false;
  }
  if (o == Py_None) {
    error = "the handler returned None; return str, bytes, dict, list, Response, or a tuple (body, status)";
    return false;
  }
  return true;
}

nb::object make_response(int status, Headers headers, nb::object body) {
  auto* r = new Response();
  r->status_code = status;
  r->headers = nb::cast(std::move(headers));
  r->description = std::move(body);
  return nb::cast(r, nb::rv_policy::take_ownership);
}

}  // namespace

bool render_result(nb::handle result, Rendered& out, std::string& error) {
  PyObject* o = result.ptr();
  // The common bodies first, before the isinstance checks in result_parts.
  if (PyUnicode_CheckExact(o) || PyBytes_CheckExact(o) || PyDict_CheckExact(o) || PyList_CheckExact(o)) {
    return render_bare(result, out, error);
  }
  nb::handle body, headers;
  int status = 200;
  if (!result_parts(result, body, status, headers, error)) return false;
  if (body.ptr() == o) return render_bare(result, out, error);
  return render_parts(body, status, headers, out, error);
}

bool response_header_lines(nb::handle headers, std::string& lines, bool& has_content_type, std::string& error) {
  if (headers.is_none()) return true;
  Headers tmp;
  const Headers* h = nullptr;
  if (!headers_from(headers, tmp, h, error)) return false;
  Rendered r;
  if (!append_headers(*h, r, has_content_type, error)) return false;
  if (r.content_length >= 0) {
    error = "a StreamingResponse has no Content-Length (its length is not known before it is sent): remove it";
    return false;
  }
  if (!r.transfer_encoding.empty() && !ascii_iequal(r.transfer_encoding, "chunked")) {
    error = "Transfer-Encoding '" + r.transfer_encoding + "' cannot be sent: the server frames a stream itself "
            "(chunked); remove the header";
    return false;
  }
  lines.append(r.header_lines);
  return true;
}

bool framed_length(const Rendered& r, bool head_request, size_t& length, std::string& error) {
  length = r.body.size();
  if (!r.transfer_encoding.empty()) {
    error = "Transfer-Encoding '" + r.transfer_encoding + "' cannot be sent: a body returned whole is sent with "
            "Content-Length; return a StreamingResponse to stream it";
    return false;
  }
  if (r.content_length < 0 || static_cast<uint64_t>(r.content_length) == r.body.size()) return true;
  if (r.body.empty() && (head_request || bodyless_status(r.status))) {
    length = static_cast<size_t>(r.content_length);  // nothing follows the head: it describes the GET's body
    return true;
  }
  error = "the response's Content-Length " + std::to_string(r.content_length) + " disagrees with its body of " +
          std::to_string(r.body.size()) + " bytes; leave Content-Length out (the server sets it)";
  return false;
}

nb::object as_response(nb::handle result, std::string& error) {
  if (nb::isinstance<StreamingResponse>(result)) return nb::borrow(result);  // hooks change it in place
  if (nb::isinstance<FileResponse>(result)) {
    // A copy with its own headers: a const route's file answer is reused, and a hook's changes must not stay.
    auto* f = new FileResponse(nb::cast<const FileResponse&>(result));
    Headers h;
    h.items = nb::cast<const Headers&>(f->headers).items;
    f->headers = nb::cast(std::move(h));
    return nb::cast(f, nb::rv_policy::take_ownership);
  }
  nb::handle body, headers;
  int status = 200;
  if (!result_parts(result, body, status, headers, error)) return {};
  Headers h;
  if (nb::isinstance<Headers>(headers)) {
    h.items = nb::cast<const Headers&>(headers).items;
  } else if (!headers.is_none()) {
    try {
      h.update_from(headers);
    } catch (const std::exception& e) {
      error = std::string("bad headers in the result: ") + e.what();
      return {};
    }
  }
  return make_response(status, std::move(h), nb::borrow(body));
}

namespace {

/// RFC 6265 cookie-octet: visible ASCII except DQUOTE, comma, semicolon and backslash.
bool is_cookie_value(std::string_view v) noexcept {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  for (unsigned char c : v) {
    if (c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\') return false;
  }
  return true;
}

/// An attribute value (Path, Domain, Expires as text): no control characters and no ';'.
void check_attribute(const char* what, std::string_view v) {
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f || c == ';')
      throw nb::value_error((std::string("cookie ") + what + " must not contain ';' or control characters").c_str());
  }
}

}  // namespace

/// The Set-Cookie value for Response.set_cookie; ValueError/TypeError saying what to change.
std::string set_cookie_value(const std::string& key, const std::string& value, nb::handle path, nb::handle domain,
                             nb::handle max_age, nb::handle expires, bool secure, bool http_only,
                             nb::handle same_site) {
  if (!is_header_name(key)) throw nb::value_error(("invalid cookie name '" + key + "': use a token").c_str());
  if (!is_cookie_value(value))
    throw nb::value_error("a cookie value may not hold spaces, '\"', ',', ';', '\\' or non-ASCII characters: "
                          "encode it first (for example with urllib.parse.quote)");
  std::string out = key + "=" + value;
  if (!path.is_none()) {
    auto p = nb::cast<std::string>(path);
    check_attribute("path", p);
    out += "; Path=" + p;
  }
  if (!domain.is_none()) {
    auto d = nb::cast<std::string>(domain);
    check_attribute("domain", d);
    out += "; Domain=" + d;
  }
  if (!max_age.is_none()) {
    if (!PyLong_Check(max_age.ptr()) || PyBool_Check(max_age.ptr()))
      throw nb::type_error("max_age is a number of seconds (int)");
    out += "; Max-Age=" + std::to_string(nb::cast<long long>(max_age));
  }
  if (!expires.is_none()) {
    if (PyUnicode_Check(expires.ptr())) {
      auto e = nb::cast<std::string>(expires);
      check_attribute("expires", e);
      out += "; Expires=" + e;
    } else if (PyLong_Check(expires.ptr()) || PyFloat_Check(expires.ptr())) {
      out += "; Expires=" + http_date(static_cast<std::time_t>(nb::cast<double>(expires)));
    } else if (nb::hasattr(expires, "timestamp")) {
      // A naive datetime is taken as UTC (as http.cookies and Starlette do).
      nb::object dt = nb::borrow(expires);
      if (nb::getattr(expires, "tzinfo").is_none())
        dt = expires.attr("replace")(nb::arg("tzinfo") = nb::module_::import_("datetime").attr("timezone").attr("utc"));
      out += "; Expires=" + http_date(static_cast<std::time_t>(nb::cast<double>(dt.attr("timestamp")())));
    } else {
      throw nb::type_error("expires is a datetime, a Unix time (int or float) or an HTTP date str");
    }
  }
  if (secure) out += "; Secure";
  if (http_only) out += "; HttpOnly";
  if (!same_site.is_none()) {
    auto s = nb::cast<std::string>(same_site);
    std::string canonical;
    if (ascii_iequal(s, "strict"))
      canonical = "Strict";
    else if (ascii_iequal(s, "lax"))
      canonical = "Lax";
    else if (ascii_iequal(s, "none"))
      canonical = "None";
    else
      throw nb::value_error("same_site is 'Strict', 'Lax' or 'None'");
    if (canonical == "None" && !secure) throw nb::value_error("same_site='None' needs secure=True (browsers refuse it)");
    out += "; SameSite=" + canonical;
  }
  return out;
}

namespace {

}  // namespace

void bind_helpers(nb::module_& m) {
  m.def(
      "check_header",
      [](const std::string& name, const std::string& value) {
        if (!is_header_name(name))
          throw nb::value_error(("invalid header name '" + name + "': use a token such as 'X-Request-Id'").c_str());
        if (!is_header_value(value))
          throw nb::value_error(("invalid value for header '" + name +
                                 "': a str without CR, LF or NUL (nor other control characters but tab)")
                                    .c_str());
      },
      nb::arg("name"), nb::arg("value"),
      "ValueError unless `name` is a token and `value` holds no CR, LF, NUL or other control character but tab.");
  m.def(
      "redirect",
      [](const std::string& url, int status_code) {
        if (status_code < 300 || status_code > 399) throw nb::value_error("a redirect status is 3xx (default 307)");
        if (!is_header_value(url)) throw nb::value_error("the redirect URL must not contain CR, LF or NUL");
        Headers h;
        h.append("Location", url);
        return make_response(status_code, std::move(h), nb::str(""));
      },
      nb::arg("url"), nb::arg("status_code") = 307, nb::sig("def redirect(url: str, status_code: int = 307) -> Response"),
      "A redirect to `url` (307 keeps the method and body; 301, 302, 303 and 308 as the status says).");
  m.def(
      "html",
      [](nb::str text, int status_code) {
        check_status(status_code);
        Headers h;
        h.append("Content-Type", "text/html; charset=utf-8");
        return make_response(status_code, std::move(h), std::move(text));
      },
      nb::arg("text"), nb::arg("status_code") = 200,
      nb::sig("def html(text: str, status_code: int = 200) -> Response"), "An HTML response.");
  m.def(
      "serve_html",
      [](const std::string& path) {
        std::FILE* f = std::fopen(path.c_str(), "rb");
        if (!f) {
          PyErr_SetFromErrnoWithFilename(PyExc_OSError, path.c_str());
          throw nb::python_error();
        }
        std::string data;
        char buf[16384];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
        bool failed = std::ferror(f) != 0;
        std::fclose(f);
        if (failed) throw std::runtime_error("cannot read " + path);
        Headers h;
        h.append("Content-Type", "text/html; charset=utf-8");
        return make_response(200, std::move(h), nb::bytes(data.data(), data.size()));
      },
      nb::arg("path"), nb::sig("def serve_html(path: str) -> Response"),
      "The HTML file at `path` as a response (read now; OSError when it cannot be).");
  m.def(
      "jsonify",
      [](nb::handle obj) {
        PyObject* args[2] = {nullptr, obj.ptr()};
        PyObject* r =
            PyObject_Vectorcall(globals().json_dumps.ptr(), args + 1, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
        if (!r) throw nb::python_error();
        nb::object bytes = nb::steal(r);
        return nb::str(PyBytes_AS_STRING(r), static_cast<size_t>(PyBytes_GET_SIZE(r)));
      },
      nb::arg("obj"), nb::sig("def jsonify(obj: object) -> str"), "`obj` as a JSON string (orjson).");
}

void bind_response(nb::module_& m) {
  nb::class_<Response>(m, "Response", "An HTTP response: Response(200, {'X-A': '1'}, 'body').")
      .def(
          "__init__",
          [](Response* self, int status_code, nb::handle headers, nb::handle description, nb::handle body) {
            check_status(status_code);
            if (!description.is_none() && !body.is_none())
              throw nb::type_error("pass either description= or body=, not both");
            new (self) Response();
            self->status_code = status_code;
            Headers h;
            h.update_from(headers);
            self->headers = nb::cast(std::move(h));
            nb::handle d = body.is_none() ? description : body;
            self->description = d.is_none() ? nb::object(nb::str("")) : nb::borrow(d);
          },
          nb::arg("status_code") = 200, nb::arg("headers") = nb::none(), nb::arg("description") = nb::none(),
          nb::kw_only(), nb::arg("body") = nb::none())
      .def_prop_rw(
          "status_code", [](Response& r) { return r.status_code; },
          [](Response& r, int status_code) {
            check_status(status_code);
            r.status_code = status_code;
          })
      .def_prop_rw(
          "headers", [](Response& r) { return r.headers; },
          [](Response& r, nb::handle h) { r.headers = Headers::copy_of(h); })
      .def_rw("description", &Response::description)
      .def_prop_rw(
          "body", [](Response& r) { return r.description; },
          [](Response& r, nb::handle v) { r.description = nb::borrow(v); })
      .def(
          "set_cookie",
          [](Response& r, const std::string& key, const std::string& value, nb::handle path, nb::handle domain,
             nb::handle max_age, nb::handle expires, bool secure, bool http_only, nb::handle same_site) {
            std::string header = set_cookie_value(key, value, path, domain, max_age, expires, secure, http_only,
                                                  same_site);
            nb::cast<Headers&>(r.headers).append("Set-Cookie", header);
          },
          nb::arg("key"), nb::arg("value") = "", nb::kw_only(), nb::arg("path") = nb::none(),
          nb::arg("domain") = nb::none(), nb::arg("max_age") = nb::none(), nb::arg("expires") = nb::none(),
          nb::arg("secure") = false, nb::arg("http_only") = false, nb::arg("same_site") = nb::none(),
          nb::sig("def set_cookie(self, key: str, value: str = '', *, path: str | None = None, "
                  "domain: str | None = None, max_age: int | None = None, "
                  "expires: datetime.datetime | int | float | str | None = None, secure: bool = False, "
                  "http_only: bool = False, same_site: str | None = None) -> None"),
          "Adds a Set-Cookie header (RFC 6265) with the given attributes.")
      .def("__repr__", [](Response& r) { return "<Response " + std::to_string(r.status_code) + ">"; });
}

}  // namespace tiercel::py
