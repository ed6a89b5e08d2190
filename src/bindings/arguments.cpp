// Handler arguments from a registration-time plan: no framework Python per request.
#include "bindings/arguments.h"

#include <nanobind/stl/tuple.h>

#include <cmath>

#include "bindings/refusals.h"
#include "bindings/background_tasks.h"
#include "bindings/request.h"
#include "core/cors.h"
#include "core/percent.h"

namespace tiercel::py {

namespace {

constexpr size_t kMaxArgs = 32;      // more parameters than this and the arguments go on the heap
constexpr size_t kMaxPlainShown = 64;  // characters of a refused value quoted in a plain parameter's 400
constexpr size_t kMaxIntDigits = 4300;  // CPython's default int-from-text limit

nb::object str_of(std::string_view s) {
  // Invalid UTF-8 (after percent-decoding) is replaced, as in request.path_params.
  return nb::steal(PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace"));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// `text` as the argument, or null with `problem` saying what the value should be.
nb::object convert(const ArgSpec& a, std::string_view text, std::string& problem) {
  switch (a.conv) {
    case Conversion::kStr:
      return str_of(text);
    case Conversion::kInt: {
      std::string_view digits = text;
      if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) digits.remove_prefix(1);
      bool ok = !digits.empty() && digits.size() <= kMaxIntDigits;
      for (char c : digits) ok = ok && is_digit(c);
      if (!ok) {
        problem = "must be an integer";
        return {};
      }
      std::string buf(text);
      PyObject* v = PyLong_FromString(buf.c_str(), nullptr, 10);
      if (!v) {
        PyErr_Clear();
        problem = "must be an integer";
        return {};
      }
      return nb::steal(v);
    }
    case Conversion::kFloat: {
      std::string buf(text);
      char* end = nullptr;
      double d = buf.empty() || buf.front() == ' ' ? NAN : PyOS_string_to_double(buf.c_str(), &end, nullptr);
      if (PyErr_Occurred()) PyErr_Clear();
      if (!end || *end != '\0' || !std::isfinite(d)) {
        problem = "must be a finite number";
        return {};
      }
      return nb::float_(d);
    }
    case Conversion::kBool: {
      static constexpr std::string_view kTrue[] = {"true", "1", "yes", "on", "t", "y"};
      static constexpr std::string_view kFalse[] = {"false", "0", "no", "off", "f", "n"};
      for (auto t : kTrue)
        if (ascii_iequal(text, t)) return nb::bool_(true);
      for (auto f : kFalse)
        if (ascii_iequal(text, f)) return nb::bool_(false);
      problem = "must be a boolean (true/false, 1/0, yes/no, on/off)";
      return {};
    }
    case Conversion::kCall: {
      nb::object s = str_of(text);
      PyObject* v = PyObject_CallOneArg(PyTuple_GET_ITEM(a.extra.ptr(), 0), s.ptr());
      if (!v) {
        PyErr_Clear();
        problem = "must be " + nb::cast<std::string>(nb::handle(PyTuple_GET_ITEM(a.extra.ptr(), 1)));
        return {};
      }
      return nb::steal(v);
    }
    case Conversion::kLookup: {
      nb::object s = str_of(text);
      PyObject* v = PyDict_GetItemWithError(PyTuple_GET_ITEM(a.extra.ptr(), 0), s.ptr());  // borrowed
      if (!v) {
        PyErr_Clear();
        problem = "must be " + nb::cast<std::string>(nb::handle(PyTuple_GET_ITEM(a.extra.ptr(), 1)));
        return {};
      }
      return nb::borrow(v);
    }
  }
  return {};
}

std::string shown(std::string_view value) {
  std::string out(value.substr(0, kMaxPlainShown));
  if (value.size() > kMaxPlainShown) out += "...";
  return out;
}

std::string where(const ArgSpec& a) {
  return std::string(a.source == ArgSource::kPath ? "path" : "query") + " parameter '" + a.name + "'";
}

/// What one call's arguments share: the refusals found so far (all of them are reported together, as FastAPI
/// does) and the JSON body decoded once for the parameters that are members of it.
struct CallState : Refusals {
  PyObject* decoded_by = nullptr;  // the decode callable of `decoded` (a kBodyField's container)
  nb::object decoded;
  bool decode_failed = false;
};

/// `text` converted and checked for argument `a`; a placeholder (None) with the refusal added to `st` when refused.
nb::object checked(CallState& st, const ArgSpec& a, std::string_view text, Py_ssize_t index = -1) {
  std::string problem;
  nb::object v = convert(a, text, problem);
  if (!a.check->fastapi) {  // a plain typed parameter (Robyn's): refused in words, with a 400
    if (!v && st.plain_name.empty()) {
      st.plain_message = where(a) + " " + problem + ", got '" + shown(text) + "'";
      st.plain_name = a.name;
    }
    return v ? v : nb::none();
  }
  if (!v) {
    refuse_conversion(st, a, text, index);
    return nb::none();
  }
  if (!check_rules(st, a, v, text, index)) return nb::none();
  return v;
}

/// The argument's default, or a "missing" refusal.
nb::object missing(CallState& st, const ArgSpec& a) {
  if (a.has_default) return a.dflt;
  if (!a.check->fastapi) {
    if (st.plain_name.empty()) {
      st.plain_message = "missing " + where(a);
      st.plain_name = a.name;
    }
    return nb::none();
  }
  refuse_missing(st, *a.check);
  return nb::none();
}

bool is_json_type(std::string_view type) {
  // FastAPI's rule: application/json or application/*+json (parameters after ';' ignored).
  type = type.substr(0, type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  if (type.size() < 12 || !ascii_iequal(type.substr(0, 12), "application/")) return false;
  std::string_view sub = type.substr(12);
  return ascii_iequal(sub, "json") || (sub.size() >= 5 && ascii_iequal(sub.substr(sub.size() - 5), "+json"));
}

/// The JSON body decoded by `codec` (decode, validate, refusal, ...): null with a refusal added, or with a Python
/// error set when decoding failed otherwise; None for an empty body.
nb::object decode_body(CallState& st, Request& r, nb::handle codec) {
  nb::object raw = r.get_raw_body();
  if (PyBytes_GET_SIZE(raw.ptr()) == 0) return nb::none();
  std::string_view type;
  bool typed = false;
  if (r.headers) {
    if (const std::string_view* ct = find_header(*r.headers, "content-type")) {
      type = *ct;
      typed = true;
    }
  }
  // A body that does not say it is JSON is validated as the bytes it is (so refused), as FastAPI does.
  nb::handle fn = PyTuple_GET_ITEM(codec.ptr(), typed && !is_json_type(type) ? 1 : 0);
  PyObject* v = PyObject_CallOneArg(fn.ptr(), raw.ptr());
  if (v) return nb::steal(v);
  if (refused_body(st, PyTuple_GET_ITEM(codec.ptr(), 2), raw)) PyErr_Clear();
  return {};
}

/// The argument `a` for request `r`, or null with a Python error set. A refused value adds to `st` and gives a
/// placeholder.
nb::object value_of(const ArgSpec& a, Request& r, nb::handle request, CallState& st) {
  switch (a.source) {
    case ArgSource::kRequest: return nb::borrow(request);
    case ArgSource::kQueryParams: return r.get_query();
    case ArgSource::kHeaders: return r.get_headers();
    case ArgSource::kPathParams: return r.get_path_params();
    case ArgSource::kBody: return r.get_body();
    case ArgSource::kRawBody: return r.get_raw_body();
    case ArgSource::kMethod: return r.get_method();
    case ArgSource::kUrl: return r.get_url();
    case ArgSource::kIpAddr: return r.get_ip_addr();
    case ArgSource::kCookies: return r.get_cookies();
    case ArgSource::kValue: return a.extra;
    case ArgSource::kWebSocket: return nb::none();  // filled by the caller (plan_arguments)
    case ArgSource::kBackgroundTasks: return background_tasks_argument(r.py_background);
    case ArgSource::kIdentity: return r.py_identity ? r.py_identity : nb::none();
    case ArgSource::kJson: {  // request.json(): its error (a 400 for a body that is not JSON) is the call's
      PyObject* v = PyObject_CallMethodNoArgs(request.ptr(), globals().s_json.ptr());
      return v ? nb::steal(v) : nb::object();
    }
    case ArgSource::kFormData:
    case ArgSource::kFiles:
      try {
        return a.source == ArgSource::kFormData ? r.get_form_data() : r.get_files();
      } catch (nb::python_error& e) {
        e.restore();
        return {};
      }
    case ArgSource::kSession:
      try {
        return r.get_session();
      } catch (std::exception& e) {
        PyErr_SetString(PyExc_RuntimeError, e.what());
        return {};
      }
    case ArgSource::kPath: {
      if (r.params) {
        for (auto& p : *r.params) {
          if (p.name != a.name && !(a.check && nb::cast<std::string_view>(a.check->key) == p.name)) continue;
          std::string decoded = needs_decode(p.value, false) ? percent_decode(p.value, false) : std::string(p.value);
          return checked(st, a, decoded);
        }
      }
      return missing(st, a);
    }
    case ArgSource::kQuery: {
      auto values = r.query_values(nb::cast<std::string_view>(a.check->key));
      if (values.empty()) return missing(st, a);
      // FastAPI takes the last of a repeated name; Tiercel's plain parameters, the first
      return checked(st, a, a.check->fastapi ? values.back() : values.front());
    }
    case ArgSource::kQueryList: {
      auto values = r.query_values(nb::cast<std::string_view>(a.check->key));
      if (values.empty() && (a.has_default || a.check->fastapi)) return a.has_default ? a.dflt : missing(st, a);
      nb::list out;
      for (size_t i = 0; i < values.size(); ++i) out.append(checked(st, a, values[i], static_cast<Py_ssize_t>(i)));
      return out;
    }
    case ArgSource::kHeader: {
      auto name = nb::cast<std::string_view>(a.check->key);
      const std::string_view* v = r.headers ? find_header(*r.headers, name) : nullptr;
      return v ? checked(st, a, *v) : missing(st, a);
    }
    case ArgSource::kCookie: {
      nb::object cookies = r.get_cookies();
      PyObject* v = PyDict_GetItemWithError(cookies.ptr(), a.check->key.ptr());  // borrowed
      if (!v) {
        if (PyErr_Occurred()) return {};
        return missing(st, a);
      }
      return checked(st, a, nb::cast<std::string_view>(nb::handle(v)));
    }
    case ArgSource::kFormField:
    case ArgSource::kFile:
    case ArgSource::kFileList: {
      nb::object form;
      try {
        form = a.source == ArgSource::kFormField ? r.get_form_data() : r.get_files();
      } catch (nb::python_error& e) {
        e.restore();
        return {};
      }
      if (a.source == ArgSource::kFileList) {
        nb::object all = r.files_named(a.check->key);
        if (PyList_GET_SIZE(all.ptr()) == 0) return missing(st, a);
        if (!a.check->raw_bytes) return all;
        nb::list contents;
        for (nb::handle f : all) contents.append(f.attr("content"));
        return contents;
      }
      PyObject* v = PyDict_GetItemWithError(form.ptr(), a.check->key.ptr());  // borrowed
      if (!v) {
        if (PyErr_Occurred()) return {};
        return missing(st, a);
      }
      if (a.source == ArgSource::kFile) return a.check->raw_bytes ? nb::handle(v).attr("content") : nb::borrow(v);
      return checked(st, a, nb::cast<std::string_view>(nb::handle(v)));
    }
    case ArgSource::kFormModel: {
      nb::object form;
      try {
        form = r.get_form_data();
      } catch (nb::python_error& e) {
        e.restore();
        return {};
      }
      PyObject* v = PyObject_CallOneArg(PyTuple_GET_ITEM(a.extra.ptr(), 1), form.ptr());
      if (v) return nb::steal(v);
      if (!refused_body(st, PyTuple_GET_ITEM(a.extra.ptr(), 2), form)) return {};
      PyErr_Clear();
      return nb::none();
    }
    case ArgSource::kModel: {
      nb::object v = decode_body(st, r, a.extra);
      if (!v) return PyErr_Occurred() ? nb::object() : nb::none();
      if (v.is_none()) {
        if (a.has_default) return a.dflt;
        missing_body(st, {});
        return nb::none();
      }
      return v;
    }
    case ArgSource::kBodyField: {
      PyObject* decode = PyTuple_GET_ITEM(a.extra.ptr(), 0);
      if (st.decoded_by != decode) {
        st.decoded_by = decode;
        st.decoded = decode_body(st, r, a.extra);
        st.decode_failed = !st.decoded;
        if (st.decode_failed && PyErr_Occurred()) return {};
      }
      if (st.decode_failed) return nb::none();
      if (st.decoded.is_none()) {  // no body: each member is missing (or its default)
        if (a.has_default) return a.dflt;
        missing_body(st, PyTuple_GET_ITEM(a.extra.ptr(), 4));
        return nb::none();
      }
      PyObject* v = PyObject_GetAttr(st.decoded.ptr(), PyTuple_GET_ITEM(a.extra.ptr(), 3));
      return v ? nb::steal(v) : nb::object();
    }
  }
  return {};
}

bool needs_check(ArgSource s) {
  switch (s) {
    case ArgSource::kPath: case ArgSource::kQuery: case ArgSource::kQueryList: case ArgSource::kHeader:
    case ArgSource::kCookie: case ArgSource::kFormField: case ArgSource::kFile: case ArgSource::kFileList:
      return true;
    default:
      return false;
  }
}

bool is_codec(nb::handle extra, Py_ssize_t size) {
  return PyTuple_Check(extra.ptr()) && PyTuple_GET_SIZE(extra.ptr()) == size;
}

}  // namespace

std::shared_ptr<const ArgPlan> make_plan(nb::handle args) {
  auto plan = std::make_shared<ArgPlan>();
  std::vector<nb::object> keywords;
  for (nb::handle item : args) {
    nb::tuple t = nb::borrow<nb::tuple>(item);
    if (t.size() != 7 && t.size() != 8) throw nb::value_error("an argument is a tuple of 7 or 8 members");
    int source = nb::cast<int>(t[0]);
    std::string name = nb::cast<std::string>(t[1]);
    int conv = nb::cast<int>(t[2]);
    nb::object extra = t[3], dflt = t[4];
    bool has_default = nb::cast<bool>(t[5]), keyword = nb::cast<bool>(t[6]);
    nb::object check_dict = t.size() == 8 ? nb::object(t[7]) : nb::none();
    if (source < 0 || source > static_cast<int>(ArgSource::kFileList)) throw nb::value_error("unknown argument source");
    if (conv < 0 || conv > static_cast<int>(Conversion::kLookup)) throw nb::value_error("unknown conversion");
    auto c = static_cast<Conversion>(conv);
    auto src = static_cast<ArgSource>(source);
    if ((c == Conversion::kCall || c == Conversion::kLookup) &&
        !(PyTuple_Check(extra.ptr()) && PyTuple_GET_SIZE(extra.ptr()) == 2 &&
          (c == Conversion::kCall || PyDict_Check(PyTuple_GET_ITEM(extra.ptr(), 0)))))
      throw nb::value_error("a conversion by call or lookup needs (callable or dict, description)");
    if ((src == ArgSource::kModel || src == ArgSource::kFormModel) && !is_codec(extra, 3))
      throw nb::value_error("a validated body needs (decode, validate, refusal)");
    if (src == ArgSource::kBodyField && !is_codec(extra, 5))
      throw nb::value_error("a member of the body needs (decode, validate, refusal, attribute, key)");
    std::shared_ptr<const ValueCheck> check;
    if (!check_dict.is_none()) {
      check = make_check(check_dict);
    } else if (needs_check(src)) {  // an older plan: the value is refused where it is, under its name
      nb::dict d;
      const char* loc = src == ArgSource::kPath     ? "path"
                        : src == ArgSource::kHeader ? "header"
                        : src == ArgSource::kCookie ? "cookie"
                        : src == ArgSource::kQuery || src == ArgSource::kQueryList ? "query"
                                                                                   : "body";
      d["loc"] = nb::str(loc);
      d["key"] = nb::str(name.c_str(), name.size());
      auto plain = std::make_shared<ValueCheck>(*make_check(d));
      plain->fastapi = false;
      check = std::move(plain);
    }
    if (keyword) {
      keywords.push_back(nb::str(name.c_str(), name.size()));
    } else {
      if (!keywords.empty()) throw nb::value_error("positional arguments come before keyword-only ones");
      ++plan->positional;
    }
    plan->args.push_back(ArgSpec{src, c, std::move(name), std::move(extra), std::move(dflt), has_default,
                                 std::move(check)});
  }
  if (!keywords.empty()) {
    nb::tuple names = nb::steal<nb::tuple>(PyTuple_New(static_cast<Py_ssize_t>(keywords.size())));
    for (size_t i = 0; i < keywords.size(); ++i)
      PyTuple_SET_ITEM(names.ptr(), static_cast<Py_ssize_t>(i), keywords[i].release().ptr());
    plan->kwnames = std::move(names);
  }
  return plan;
}

PyObject* call_with_plan(nb::handle fn, const ArgPlan& plan, nb::handle request, nb::handle param_error,
                         std::vector<PyObject*> prefix) {
  Request& r = *nb::inst_ptr<Request>(request);
  const size_t n = plan.args.size();
  if (!prefix.empty()) {
    // The rare path (blocking handlers): the arguments after the prefix, on the heap.
    std::vector<nb::object> values(n);
    CallState st;
    for (size_t i = 0; i < n; ++i) {
      values[i] = value_of(plan.args[i], r, request, st);
      if (!values[i]) return nullptr;
      prefix.push_back(values[i].ptr());
    }
    if (raise_refusals(st, param_error)) return nullptr;
    prefix.insert(prefix.begin(), nullptr);
    return PyObject_Vectorcall(fn.ptr(), prefix.data() + 1,
                               (prefix.size() - 1 - (plan.kwnames ? PyTuple_GET_SIZE(plan.kwnames.ptr()) : 0)) |
                                   PY_VECTORCALL_ARGUMENTS_OFFSET,
                               plan.kwnames ? plan.kwnames.ptr() : nullptr);
  }
  nb::object values_small[kMaxArgs];
  std::vector<nb::object> values_big(n > kMaxArgs ? n : 0);
  nb::object* values = n > kMaxArgs ? values_big.data() : values_small;
  PyObject* ptrs_small[kMaxArgs + 1];
  std::vector<PyObject*> ptrs_big(n > kMaxArgs ? n + 1 : 0);
  PyObject** ptrs = n > kMaxArgs ? ptrs_big.data() : ptrs_small;
  CallState st;
  for (size_t i = 0; i < n; ++i) {
    values[i] = value_of(plan.args[i], r, request, st);
    if (!values[i]) return nullptr;
    ptrs[i + 1] = values[i].ptr();
  }
  if (raise_refusals(st, param_error)) return nullptr;
  return PyObject_Vectorcall(fn.ptr(), ptrs + 1, plan.positional | PY_VECTORCALL_ARGUMENTS_OFFSET,
                             plan.kwnames ? plan.kwnames.ptr() : nullptr);
}

bool plan_arguments(const ArgPlan& plan, nb::handle request, nb::handle param_error, std::vector<nb::object>& out) {
  Request& r = *nb::inst_ptr<Request>(request);
  out.clear();
  out.reserve(plan.args.size());
  CallState st;
  for (const ArgSpec& a : plan.args) {
    if (a.source == ArgSource::kWebSocket) {
      out.emplace_back();
      continue;
    }
    out.push_back(value_of(a, r, request, st));
    if (!out.back()) return false;
  }
  return !raise_refusals(st, param_error);
}

PyObject* call_planned(nb::handle fn, const ArgPlan& plan, const std::vector<nb::object>& values) {
  std::vector<PyObject*> ptrs(values.size() + 1);
  for (size_t i = 0; i < values.size(); ++i) {
    if (!values[i]) {
      PyErr_SetString(PyExc_RuntimeError, "an argument was not filled");
      return nullptr;
    }
    ptrs[i + 1] = values[i].ptr();
  }
  return PyObject_Vectorcall(fn.ptr(), ptrs.data() + 1, plan.positional | PY_VECTORCALL_ARGUMENTS_OFFSET,
                             plan.kwnames ? plan.kwnames.ptr() : nullptr);
}

}  // namespace tiercel::py
