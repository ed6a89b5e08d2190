// Handler arguments from a registration-time plan: no framework Python per request.
#include "bindings/arguments.h"

#include <nanobind/stl/tuple.h>

#include <cmath>

#include "bindings/request.h"
#include "core/percent.h"

namespace tiercel::py {

namespace {

constexpr size_t kMaxArgs = 32;      // more parameters than this and the arguments go on the heap
constexpr size_t kMaxShown = 64;     // characters of a refused value quoted back in the 400's message
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

/// Raises param_error(message, name) for argument `a`.
void refuse(nb::handle param_error, const ArgSpec& a, const std::string& message) {
  try {
    nb::object exc = param_error(nb::str(message.c_str(), message.size()), nb::str(a.name.c_str(), a.name.size()));
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  } catch (nb::python_error& e) {
    e.restore();
  }
}

std::string shown(std::string_view value) {
  std::string out(value.substr(0, kMaxShown));
  if (value.size() > kMaxShown) out += "...";
  return out;
}

std::string where(const ArgSpec& a) {
  return std::string(a.source == ArgSource::kPath ? "path" : "query") + " parameter '" + a.name + "'";
}

nb::object refused_value(nb::handle param_error, const ArgSpec& a, std::string_view value, const std::string& problem) {
  refuse(param_error, a, where(a) + " " + problem + ", got '" + shown(value) + "'");
  return {};
}

nb::object missing(nb::handle param_error, const ArgSpec& a) {
  if (a.has_default) return a.dflt;
  refuse(param_error, a, "missing " + where(a));
  return {};
}

/// The argument `a` for request `r`, or null with a Python error set.
nb::object value_of(const ArgSpec& a, Request& r, nb::handle request, nb::handle param_error) {
  std::string problem;
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
          if (p.name != a.name) continue;
          std::string decoded = needs_decode(p.value, false) ? percent_decode(p.value, false) : std::string(p.value);
          nb::object v = convert(a, decoded, problem);
          return v ? v : refused_value(param_error, a, decoded, problem);
        }
      }
      return missing(param_error, a);
    }
    case ArgSource::kQuery: {
      auto values = r.query_values(a.name);
      if (values.empty()) return missing(param_error, a);
      nb::object v = convert(a, values.front(), problem);
      return v ? v : refused_value(param_error, a, values.front(), problem);
    }
    case ArgSource::kQueryList: {
      auto values = r.query_values(a.name);
      if (values.empty() && a.has_default) return a.dflt;
      nb::list out;
      for (auto text : values) {
        nb::object v = convert(a, text, problem);
        if (!v) return refused_value(param_error, a, text, problem);
        out.append(v);
      }
      return out;
    }
  }
  return {};
}

}  // namespace

std::shared_ptr<const ArgPlan> make_plan(nb::handle args) {
  auto plan = std::make_shared<ArgPlan>();
  std::vector<nb::object> keywords;
  for (nb::handle item : args) {
    auto [source, name, conv, extra, dflt, has_default, keyword] =
        nb::cast<std::tuple<int, std::string, int, nb::object, nb::object, bool, bool>>(item);
    if (source < 0 || source > static_cast<int>(ArgSource::kWebSocket))
      throw nb::value_error("unknown argument source");
    if (conv < 0 || conv > static_cast<int>(Conversion::kLookup)) throw nb::value_error("unknown conversion");
    auto c = static_cast<Conversion>(conv);
    if ((c == Conversion::kCall || c == Conversion::kLookup) &&
        !(PyTuple_Check(extra.ptr()) && PyTuple_GET_SIZE(extra.ptr()) == 2 &&
          (c == Conversion::kCall || PyDict_Check(PyTuple_GET_ITEM(extra.ptr(), 0)))))
      throw nb::value_error("a conversion by call or lookup needs (callable or dict, description)");
    if (keyword) {
      keywords.push_back(nb::str(name.c_str(), name.size()));
    } else {
      if (!keywords.empty()) throw nb::value_error("positional arguments come before keyword-only ones");
      ++plan->positional;
    }
    plan->args.push_back(ArgSpec{static_cast<ArgSource>(source), c, std::move(name), std::move(extra), std::move(dflt),
                                 has_default});
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
    for (size_t i = 0; i < n; ++i) {
      values[i] = value_of(plan.args[i], r, request, param_error);
      if (!values[i]) return nullptr;
      prefix.push_back(values[i].ptr());
    }
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
  for (size_t i = 0; i < n; ++i) {
    values[i] = value_of(plan.args[i], r, request, param_error);
    if (!values[i]) return nullptr;
    ptrs[i + 1] = values[i].ptr();
  }
  return PyObject_Vectorcall(fn.ptr(), ptrs + 1, plan.positional | PY_VECTORCALL_ARGUMENTS_OFFSET,
                             plan.kwnames ? plan.kwnames.ptr() : nullptr);
}

bool plan_arguments(const ArgPlan& plan, nb::handle request, nb::handle param_error, std::vector<nb::object>& out) {
  Request& r = *nb::inst_ptr<Request>(request);
  out.clear();
  out.reserve(plan.args.size());
  for (const ArgSpec& a : plan.args) {
    if (a.source == ArgSource::kWebSocket) {
      out.emplace_back();
      continue;
    }
    out.push_back(value_of(a, r, request, param_error));
    if (!out.back()) return false;
  }
  return true;
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
