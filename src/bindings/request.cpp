// Request: lazy, native, zero-copy until kept.
#include "bindings/request.h"

#include "core/percent.h"

namespace tiercel::py {

namespace {

nb::str to_str(std::string_view s) { return nb::str(s.data(), s.size()); }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// Adds the pairs of one Cookie header to `d`; pairs without '=' or a name are skipped, a quoted value unquoted.
void add_cookies(nb::dict& d, std::string_view header) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = trim_ows(header.substr(0, semi));
    header.remove_prefix(semi == std::string_view::npos ? header.size() : semi + 1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = trim_ows(pair.substr(0, eq)), value = trim_ows(pair.substr(eq + 1));
    if (name.empty()) continue;
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    nb::str key = to_str(name);
    if (!d.contains(key)) d[key] = to_str(value);
  }
}

nb::str decoded_str(std::string_view s, bool plus_as_space) {
  if (!needs_decode(s, plus_as_space)) return to_str(s);
  std::string d = percent_decode(s, plus_as_space);
  // Invalid UTF-8 after decoding is replaced, never an exception in the handler's face.
  return nb::steal<nb::str>(PyUnicode_DecodeUTF8(d.data(), static_cast<Py_ssize_t>(d.size()), "replace"));
}

}  // namespace

void Request::detach() {
  if (owned_) return;
  auto o = std::make_unique<Owned>();
  size_t total = method.size() + path.size() + query.size() + host.size() + body.size() + peer_ip.size();
  if (headers)
    for (auto& h : *headers) total += h.name.size() + h.value.size();
  if (params)
    for (auto& p : *params) total += p.name.size() + p.value.size();
  o->data.reserve(total);
  // Appends never reallocate (reserved above), so the views stay valid.
  auto keep = [&](std::string_view s) {
    size_t at = o->data.size();
    o->data.append(s);
    return std::string_view(o->data.data() + at, s.size());
  };
  method = keep(method);
  path = keep(path);
  query = keep(query);
  host = keep(host);
  body = keep(body);
  peer_ip = keep(peer_ip);
  if (headers) {
    o->headers.reserve(headers->size());
    for (auto& h : *headers) o->headers.push_back({keep(h.name), keep(h.value)});
  }
  if (params) {
    o->params.reserve(params->size());
    for (auto& p : *params) o->params.push_back({keep(p.name), keep(p.value)});
  }
  headers = &o->headers;
  params = &o->params;
  owned_ = std::move(o);
}

nb::object make_request(const RoutedRequest& req) {
  nb::object obj = nb::inst_alloc(nb::type<Request>());
  Request* r = nb::inst_ptr<Request>(obj);
  new (r) Request();
  r->method = req.head.method;
  r->path = req.head.path;
  r->query = req.head.query;
  r->host = req.head.host;
  r->body = req.body;
  r->peer_ip = req.peer_ip;
  r->headers = &req.head.headers;
  r->params = &req.params;
  nb::inst_mark_ready(obj);
  return obj;
}

nb::object make_synthetic_request(std::string_view method, std::string_view path) {
  nb::object obj = nb::inst_alloc(nb::type<Request>());
  Request* r = nb::inst_ptr<Request>(obj);
  new (r) Request();
  r->method = method;
  r->path = path;
  r->host = "localhost";
  r->detach();
  nb::inst_mark_ready(obj);
  return obj;
}

void bind_request(nb::module_& m) {
  nb::class_<Request>(m, "Request", "An HTTP request. Containers are built on first access.")
      .def_prop_ro(
          "method",
          [](Request& r) {
            if (!r.py_method) r.py_method = to_str(r.method);
            return r.py_method;
          },
          "'GET', 'POST', ...")
      .def_prop_ro(
          "path",
          [](Request& r) {
            if (!r.py_path) r.py_path = decoded_str(r.path, false);
            return r.py_path;
          },
          "The percent-decoded path, without the query string.")
      .def_prop_ro(
          "url",
          [](Request& r) {
            if (!r.py_url) {
              Url u;
              u.scheme = r.scheme;
              u.host = r.host;
              u.path = nb::cast<std::string>(decoded_str(r.path, false));
              r.py_url = nb::cast(std::move(u));
            }
            return r.py_url;
          },
          "Url with scheme, host and path.")
      .def_prop_ro(
          "headers",
          [](Request& r) {
            if (!r.py_headers) {
              Headers h;
              if (r.headers) {
                h.items.reserve(r.headers->size());
                for (auto& f : *r.headers) h.items.emplace_back(f.name, f.value);
              }
              if (r.extra_headers) {
                for (auto& [name, value, replace] : *r.extra_headers) {
                  if (replace)
                    h.set(name, value);
                  else
                    h.append(name, value);
                }
              }
              r.py_headers = nb::cast(std::move(h));
            }
            return r.py_headers;
          },
          "Request headers (case-insensitive).")
      .def_prop_ro(
          "query_params",
          [](Request& r) {
            if (!r.py_query) {
              QueryParams q;
              q.items = parse_query(r.query);
              r.py_query = nb::cast(std::move(q));
            }
            return r.py_query;
          },
          "Decoded query parameters.")
      .def_prop_ro(
          "path_params",
          [](Request& r) {
            if (!r.py_params) {
              nb::dict d;
              if (r.params)
                for (auto& p : *r.params) d[to_str(p.name)] = decoded_str(p.value, false);
              r.py_params = d;
            }
            return r.py_params;
          },
          "Path parameters by name, percent-decoded.")
      .def_prop_ro(
          "body",
          [](Request& r) {
            if (!r.py_body) {
              PyObject* s = PyUnicode_DecodeUTF8(r.body.data(), static_cast<Py_ssize_t>(r.body.size()), nullptr);
              if (s) {
                r.py_body = nb::steal(s);
              } else {
                PyErr_Clear();
                r.py_body = nb::bytes(r.body.data(), r.body.size());
              }
            }
            return r.py_body;
          },
          "The body as str when it is UTF-8, else bytes.")
      .def_prop_ro(
          "raw_body",
          [](Request& r) {
            if (!r.py_raw_body) r.py_raw_body = nb::bytes(r.body.data(), r.body.size());
            return r.py_raw_body;
          },
          "The body as bytes.")
      .def(
          "json",
          [](Request& r) {
            if (r.body.empty()) throw nb::value_error("request body is empty; send a JSON document");
            return globals().json_loads(nb::bytes(r.body.data(), r.body.size()));
          },
          "The body parsed as JSON; ValueError when it is not JSON.")
      .def_prop_ro(
          "cookies",
          [](Request& r) {
            if (!r.py_cookies) {
              nb::dict d;
              if (r.headers) {
                for (auto& f : *r.headers) {
                  if (ascii_iequal(f.name, "cookie")) add_cookies(d, f.value);
                }
              }
              r.py_cookies = std::move(d);
            }
            return r.py_cookies;
          },
          nb::sig("def cookies(self) -> dict[str, str]"),
          "The request's cookies (RFC 6265 `name=value; ...`), as sent: the first of a repeated name wins.")
      .def_prop_ro(
          "ip_addr", [](Request& r) { return to_str(r.peer_ip); }, "The client's IP address.")
      .def("__repr__", [](Request& r) {
        return "<Request " + std::string(r.method) + " " + std::string(r.path) + ">";
      });
}

}  // namespace tiercel::py
