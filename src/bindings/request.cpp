// Request: lazy, native, zero-copy until kept.
#include "bindings/request.h"

#include "bindings/request_body_stream.h"

#include "bindings/sessions.h"
#include "core/percent.h"

namespace tiercel::py {

namespace {

nb::str to_str(std::string_view s) { return nb::str(s.data(), s.size()); }

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
  r->scheme = req.scheme;
  r->headers = &req.head.headers;
  r->params = &req.params;
  if (req.tls) r->tls = req.tls;
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

nb::object Request::get_method() {
  if (!py_method) py_method = to_str(method);
  return py_method;
}

nb::object Request::get_url() {
  if (!py_url) {
    Url u;
    u.scheme = scheme;
    u.host = host;
    u.path = nb::cast<std::string>(decoded_str(path, false));
    py_url = nb::cast(std::move(u));
  }
  return py_url;
}

nb::object Request::get_headers() {
  if (!py_headers) {
    Headers h;
    if (headers) {
      h.items.reserve(headers->size());
      for (auto& f : *headers) h.items.emplace_back(f.name, f.value);
    }
    if (extra_headers) {
      for (auto& [name, value, replace] : *extra_headers) {
        if (replace)
          h.set(name, value);
        else
          h.append(name, value);
      }
    }
    py_headers = nb::cast(std::move(h));
  }
  return py_headers;
}

nb::object Request::get_query() {
  if (!py_query) {
    QueryParams q;
    q.items = parse_query(query);
    py_query = nb::cast(std::move(q));
  }
  return py_query;
}

std::vector<std::string_view> Request::query_values(std::string_view name) {
  std::vector<std::string_view> out;
  for (auto& [k, v] : nb::inst_ptr<QueryParams>(get_query())->items) {
    if (k == name) out.emplace_back(v);
  }
  return out;
}

nb::object Request::get_path_params() {
  if (!py_params) {
    nb::dict d;
    if (params)
      for (auto& p : *params) d[to_str(p.name)] = decoded_str(p.value, false);
    py_params = d;
  }
  return py_params;
}

nb::object Request::get_body() {
  if (!py_body) {
    check_whole_body(*this);
    PyObject* s = PyUnicode_DecodeUTF8(body.data(), static_cast<Py_ssize_t>(body.size()), nullptr);
    if (s) {
      py_body = nb::steal(s);
    } else {
      PyErr_Clear();
      py_body = nb::bytes(body.data(), body.size());
    }
  }
  return py_body;
}

nb::object Request::get_raw_body() {
  if (!py_raw_body) {
    check_whole_body(*this);
    py_raw_body = nb::bytes(body.data(), body.size());
  }
  return py_raw_body;
}

nb::object Request::get_cookies() {
  if (!py_cookies) {
    nb::dict d;
    if (headers) {
      for (auto& f : *headers) {
        if (ascii_iequal(f.name, "cookie")) add_cookies(d, f.value);
      }
    }
    py_cookies = std::move(d);
  }
  return py_cookies;
}

nb::object Request::get_ip_addr() { return to_str(peer_ip); }

nb::object Request::get_session() { return load_session(*this); }

/// The token of `Authorization: Bearer <token>` (RFC 6750), or None.
nb::object bearer_token(Request& r) {
  std::string value;
  bool found = false;
  if (r.py_headers || r.extra_headers) {  // the headers as hooks and global request headers left them
    const Headers& h = nb::cast<const Headers&>(r.get_headers());
    long i = h.find("authorization");
    if (i >= 0) {
      value = h.items[static_cast<size_t>(i)].second;
      found = true;
    }
  } else if (r.headers) {
    for (auto& f : *r.headers) {
      if (ascii_iequal(f.name, "authorization")) {
        value = f.value;
        found = true;
        break;
      }
    }
  }
  constexpr std::string_view kScheme = "bearer ";
  if (!found || value.size() <= kScheme.size() || !ascii_iequal(std::string_view(value).substr(0, kScheme.size()), kScheme))
    return nb::none();
  std::string_view token = trim_ows(std::string_view(value).substr(kScheme.size()));
  if (token.empty()) return nb::none();
  return to_str(token);
}

/// request.identity as an authentication handler makes it (native, so making one runs no framework Python).
struct Identity {
  nb::dict claims;
};

namespace {

/// Raises JSONBodyError(problem) (a ValueError and a 400), caused by `cause` when given.
[[noreturn]] void raise_json_error(const std::string& problem, nb::handle cause) {
  if (!globals().json_error) throw nb::value_error(("Invalid JSON body: " + problem).c_str());
  nb::object exc = globals().json_error(nb::str(problem.c_str(), problem.size()));
  if (cause) PyException_SetCause(exc.ptr(), cause.inc_ref().ptr());
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  throw nb::python_error();
}

}  // namespace

void bind_request(nb::module_& m) {
  nb::class_<Identity>(m, "Identity", "Who sent a request: `claims` (a dict), as the authentication handler found them.")
      .def(
          "__init__",
          [](Identity* self, nb::handle claims) {
            new (self) Identity();
            if (!claims.is_none()) {  // dict(claims): a copy, from a mapping or pairs
              PyObject* d = PyObject_CallOneArg(reinterpret_cast<PyObject*>(&PyDict_Type), claims.ptr());
              if (!d) throw nb::python_error();
              self->claims = nb::steal<nb::dict>(d);
            }
          },
          nb::arg("claims") = nb::none(), nb::sig("def __init__(self, claims: dict[str, typing.Any] | None = None) -> None"))
      .def_prop_rw(
          "claims", [](const Identity& i) { return nb::typed<nb::dict, nb::str, nb::any>(i.claims); },
          [](Identity& i, nb::typed<nb::dict, nb::str, nb::any> claims) { i.claims = std::move(claims); })
      .def("__eq__",
           [](const Identity& a, nb::handle b) {
             return nb::isinstance<Identity>(b) && a.claims.equal(nb::cast<const Identity&>(b).claims);
           })
      .def("__repr__", [](const Identity& i) { return "Identity(claims=" + nb::cast<std::string>(nb::repr(i.claims)) + ")"; });

  m.def("bearer_token", &bearer_token, nb::arg("request"), nb::sig("def bearer_token(request: Request) -> str | None"),
        "The token of the request's `Authorization: Bearer <token>` header, or None.");

  auto request_class = nb::class_<Request>(m, "Request", "An HTTP request. Containers are built on first access.");
  request_class
      .def_prop_ro("method", &Request::get_method, nb::sig("def method(self) -> str"), "'GET', 'POST', ...")
      .def_prop_ro(
          "path",
          [](Request& r) {
            if (!r.py_path) r.py_path = decoded_str(r.path, false);
            return r.py_path;
          },
          nb::sig("def path(self) -> str"), "The percent-decoded path, without the query string.")
      .def_prop_ro("url", &Request::get_url, nb::sig("def url(self) -> Url"), "Url with scheme, host and path.")
      .def_prop_ro("headers", &Request::get_headers, nb::sig("def headers(self) -> Headers"),
                   "Request headers (case-insensitive).")
      .def_prop_ro("query_params", &Request::get_query, nb::sig("def query_params(self) -> QueryParams"),
                   "Decoded query parameters.")
      .def_prop_ro("path_params", &Request::get_path_params, nb::sig("def path_params(self) -> dict[str, str]"),
                   "Path parameters by name, percent-decoded.")
      .def_prop_ro("body", &Request::get_body, nb::sig("def body(self) -> str | bytes"),
                   "The body as str when it is UTF-8, else bytes.")
      .def_prop_ro("raw_body", &Request::get_raw_body, nb::sig("def raw_body(self) -> bytes"), "The body as bytes.")
      .def(
          "json",
          [](Request& r) {
            check_whole_body(r);
            if (r.body.empty()) raise_json_error("the body is empty", nb::handle());
            try {
              return globals().json_loads(nb::bytes(r.body.data(), r.body.size()));
            } catch (nb::python_error& e) {
              if (!e.matches(PyExc_ValueError)) throw;
              raise_json_error(nb::cast<std::string>(nb::str(e.value())), e.value());
            }
          },
          nb::sig("def json(self) -> typing.Any"),
          "The body parsed as JSON; JSONBodyError (a ValueError, answered 400 unless caught) when it is not JSON.")
      .def_prop_ro("cookies", &Request::get_cookies, nb::sig("def cookies(self) -> dict[str, str]"),
                   "The request's cookies (RFC 6265 `name=value; ...`), as sent: the first of a repeated name wins.")
      .def_prop_ro("ip_addr", &Request::get_ip_addr, nb::sig("def ip_addr(self) -> str"), "The client's IP address.")
      .def_prop_ro(
          "tls",
          [](Request& r) -> nb::object {
            if (!r.tls) return nb::none();
            nb::dict d;
            d["version"] = r.tls->version;
            d["cipher"] = r.tls->cipher;
            d["alpn"] = r.tls->alpn;
            d["server_name"] = r.tls->server_name;
            d["resumed"] = r.tls->resumed;
            return d;
          },
          nb::sig("def tls(self) -> dict[str, typing.Any] | None"),
          "The TLS connection the request came on (version, cipher, alpn, server_name, resumed), or None.")
      .def_prop_ro(
          "client_cert",
          [](Request& r) -> nb::object {
            if (!r.tls || r.tls->peer_cert_pem.empty()) return nb::none();
            const TlsInfo& t = *r.tls;
            nb::dict d;
            d["subject"] = t.peer_subject;
            d["issuer"] = t.peer_issuer;
            d["serial"] = t.peer_serial;
            d["not_before"] = t.peer_not_before;
            d["not_after"] = t.peer_not_after;
            d["dns_names"] = nb::cast(t.peer_dns_names);
            d["pem"] = t.peer_cert_pem;
            return d;
          },
          nb::sig("def client_cert(self) -> dict[str, typing.Any] | None"),
          "The client's certificate (mTLS: ssl_cert_reqs with ssl_ca_certs), verified against ssl_ca_certs: "
          "subject and issuer (RFC 2253), serial (hex), not_before, not_after, dns_names, pem. None without one.")
      .def_prop_ro("form_data", &Request::get_form_data, nb::sig("def form_data(self) -> dict[str, str]"),
                   "The fields of an application/x-www-form-urlencoded or multipart/form-data body (the first "
                   "value of a repeated one); {} for other bodies. A malformed multipart body is a 400.")
      .def_prop_ro("files", &Request::get_files, nb::sig("def files(self) -> dict[str, UploadFile]"),
                   "The files of a multipart/form-data body by field name.")
      .def_prop_ro("session", &Request::get_session, nb::sig("def session(self) -> dict[str, typing.Any]"),
                   "The session (a dict) kept in a signed cookie: changes are saved with the response. Needs "
                   "app.configure_sessions(secret_key).")
      .def_prop_rw(
          "identity", [](Request& r) { return r.py_identity ? r.py_identity : nb::none(); },
          [](Request& r, nb::object v) { r.py_identity = std::move(v); },
          "Who the authentication handler says sent the request (an Identity), or None.")
      .def("__repr__", [](Request& r) {
        return "<Request " + std::string(r.method) + " " + std::string(r.path) + ">";
      });
  bind_request_body_stream(request_class, m);
}

}  // namespace tiercel::py
