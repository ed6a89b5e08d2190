// FastAPI's errors and Robyn's 400 for refused handler arguments (see refusals.h).
#include "bindings/refusals.h"

namespace tiercel::py {

namespace {

nb::object str_obj(const char* s) { return nb::steal(PyUnicode_FromString(s)); }

constexpr size_t kMaxShown = 256;  // bytes of a refused value quoted back in a 422 (tiercel/models.py's)

/// A refused request text as quoted back in an error: its first kMaxShown bytes (then "..."), invalid UTF-8
/// replaced. Built only when a refusal is added, never for a value that passes.
nb::object quoted(std::string_view text) {
  std::string cut;
  if (text.size() > kMaxShown) {
    cut.assign(text.substr(0, kMaxShown));
    cut += "...";
    text = cut;
  }
  return nb::steal(PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace"));
}

/// One FastAPI error: {"type", "loc": [loc, key, (index)], "msg", "input"[, "ctx"]}.
nb::object error_of(const ValueCheck& c, const char* type, nb::handle msg, nb::handle input, nb::handle ctx = {},
                    Py_ssize_t index = -1) {
  nb::dict e;
  e["type"] = str_obj(type);
  nb::list loc;
  loc.append(c.loc);
  loc.append(c.key);
  if (index >= 0) loc.append(nb::int_(index));
  e["loc"] = loc;
  e["msg"] = msg;
  e["input"] = input ? nb::borrow(input) : nb::none();
  if (ctx) e["ctx"] = ctx;
  return e;
}

nb::object format1(const char* fmt, nb::handle value) {
  return nb::steal(PyUnicode_FromFormat(fmt, value.ptr()));
}

constexpr Py_ssize_t kMaxInputChars = 256;  // of a refused input quoted back (tiercel/models.py's MAX_INPUT_CHARS)

nb::object item_or_null(nb::handle dict, const char* key) {
  PyObject* v = PyDict_GetItemString(dict.ptr(), key);  // borrowed
  return v && v != Py_None ? nb::borrow(v) : nb::object();
}

/// pydantic's refusal of a text's length: "String should have at least 2 characters".
void refuse_length(Refusals& st, const ValueCheck& c, const char* type, const char* rule, const char* words,
                   Py_ssize_t bound, std::string_view text, Py_ssize_t index) {
  nb::dict ctx;
  ctx[rule] = nb::int_(bound);
  nb::object msg = nb::steal(
      PyUnicode_FromFormat("String should have %s %zd character%s", words, bound, bound == 1 ? "" : "s"));
  st.add(error_of(c, type, msg, quoted(text), ctx, index));
}

}  // namespace

void Refusals::add(nb::handle error) {
  PyObject* loc = PyDict_GetItemString(error.ptr(), "loc");  // borrowed
  bool body_part = loc && PyList_Check(loc) && PyList_GET_SIZE(loc) > 0 &&
                   PyUnicode_CompareWithASCIIString(PyList_GET_ITEM(loc, 0), "body") == 0;
  nb::object& list = body_part ? body_errors : errors;
  if (!list) list = nb::steal(PyList_New(0));
  PyList_Append(list.ptr(), error.ptr());
}

std::shared_ptr<const ValueCheck> make_check(nb::handle d) {
  if (!PyDict_Check(d.ptr())) throw nb::value_error("a value's check is a dict");
  auto c = std::make_shared<ValueCheck>();
  c->loc = item_or_null(d, "loc");
  c->key = item_or_null(d, "key");
  if (!c->loc || !c->key || !PyUnicode_Check(c->loc.ptr()) || !PyUnicode_Check(c->key.ptr()))
    throw nb::value_error("a value's check names its loc and key (str)");
  c->gt = item_or_null(d, "gt");
  c->ge = item_or_null(d, "ge");
  c->lt = item_or_null(d, "lt");
  c->le = item_or_null(d, "le");
  if (nb::object n = item_or_null(d, "min_length")) c->min_length = nb::cast<Py_ssize_t>(n);
  if (nb::object n = item_or_null(d, "max_length")) c->max_length = nb::cast<Py_ssize_t>(n);
  c->pattern = item_or_null(d, "pattern");
  c->search = item_or_null(d, "search");
  if (c->search && !c->pattern) throw nb::value_error("a check's search comes with its pattern");
  c->refused = item_or_null(d, "refused");
  c->expected = item_or_null(d, "expected");
  c->explain = item_or_null(d, "explain");
  if (nb::object b = item_or_null(d, "bytes")) c->raw_bytes = PyObject_IsTrue(b.ptr()) == 1;
  return c;
}

void refuse_conversion(Refusals& st, const ArgSpec& a, std::string_view raw, Py_ssize_t index) {
  const ValueCheck& c = *a.check;
  nb::object text = quoted(raw);
  switch (a.conv) {
    case Conversion::kInt:
      st.add(error_of(c, "int_parsing",
                      str_obj("Input should be a valid integer, unable to parse string as an integer"),
                      text, {}, index));
      return;
    case Conversion::kFloat:
      st.add(error_of(c, "float_parsing", str_obj("Input should be a valid number, unable to parse string as a number"),
                      text, {}, index));
      return;
    case Conversion::kBool:
      st.add(error_of(c, "bool_parsing", str_obj("Input should be a valid boolean, unable to interpret input"), text,
                      {}, index));
      return;
    case Conversion::kLookup: {
      nb::dict ctx;
      ctx["expected"] = c.expected ? c.expected : nb::str("");
      st.add(error_of(c, c.refused ? nb::cast<std::string>(c.refused).c_str() : "enum",
                      format1("Input should be %U", ctx["expected"]), text, ctx, index));
      return;
    }
    default:
      break;
  }
  if (c.explain) {  // a conversion by call: FastAPI's words for it (pydantic's, when installed)
    PyObject* found = PyObject_CallOneArg(c.explain.ptr(), text.ptr());
    if (found && PyList_Check(found)) {
      nb::object list = nb::steal(found);
      for (nb::handle item : list) {
        nb::dict e = nb::borrow<nb::dict>(item);
        nb::list loc;
        loc.append(c.loc);
        loc.append(c.key);
        if (index >= 0) loc.append(nb::int_(index));
        nb::dict out;
        out["type"] = e.contains("type") ? e["type"] : nb::str("value_error");
        out["loc"] = loc;
        for (auto [k, v] : e)
          if (!out.contains(k)) out[k] = v;
        st.add(out);
      }
      return;
    }
    Py_XDECREF(found);
    PyErr_Clear();
  }
  st.add(error_of(c, "value_error", str_obj("Input is not valid"), text, {}, index));
}

bool check_rules(Refusals& st, const ArgSpec& a, nb::handle value, std::string_view text, Py_ssize_t index) {
  const ValueCheck& c = *a.check;
  bool ok = true;
  struct Bound {
    const nb::object& bound;
    int op;
    const char* type;
    const char* words;
    const char* name;
  };
  const Bound bounds[] = {{c.gt, Py_GT, "greater_than", "greater than", "gt"},
                          {c.ge, Py_GE, "greater_than_equal", "greater than or equal to", "ge"},
                          {c.lt, Py_LT, "less_than", "less than", "lt"},
                          {c.le, Py_LE, "less_than_equal", "less than or equal to", "le"}};
  if (PyLong_Check(value.ptr()) || PyFloat_Check(value.ptr())) {
    for (const Bound& b : bounds) {
      if (!b.bound) continue;
      int r = PyObject_RichCompareBool(value.ptr(), b.bound.ptr(), b.op);
      if (r < 0) PyErr_Clear();
      if (r == 1) continue;
      nb::dict ctx;
      ctx[b.name] = b.bound;
      nb::object msg = nb::steal(PyUnicode_FromFormat("Input should be %s %S", b.words, b.bound.ptr()));
      st.add(error_of(c, b.type, msg, quoted(text), ctx, index));
      ok = false;
    }
  }
  if (PyUnicode_Check(value.ptr())) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(value.ptr());
    if (c.min_length >= 0 && n < c.min_length) {
      refuse_length(st, c, "string_too_short", "min_length", "at least", c.min_length, text, index);
      ok = false;
    }
    if (c.max_length >= 0 && n > c.max_length) {
      refuse_length(st, c, "string_too_long", "max_length", "at most", c.max_length, text, index);
      ok = false;
    }
    if (c.search) {
      PyObject* m = PyObject_CallOneArg(c.search.ptr(), value.ptr());
      if (!m) PyErr_Clear();
      if (m == Py_None || !m) {
        nb::dict ctx;
        ctx["pattern"] = c.pattern;
        st.add(error_of(c, "string_pattern_mismatch", format1("String should match pattern '%U'", c.pattern),
                        quoted(text), ctx, index));
        ok = false;
      }
      Py_XDECREF(m);
    }
  }
  return ok;
}

void refuse_missing(Refusals& st, const ValueCheck& c) {
  st.add(error_of(c, "missing", str_obj("Field required"), nb::none()));
}

void missing_body(Refusals& st, nb::handle key) {
  if (!st.body_errors) st.body_errors = nb::steal(PyList_New(0));
  nb::dict e;
  e["type"] = str_obj("missing");
  nb::list loc;
  loc.append(str_obj("body"));
  if (key) loc.append(key);
  e["loc"] = loc;
  e["msg"] = str_obj("Field required");
  e["input"] = nb::none();
  PyList_Append(st.body_errors.ptr(), e.ptr());
}

namespace {

bool is_scalar(PyObject* v) {
  return v == Py_None || PyLong_CheckExact(v) || PyFloat_CheckExact(v) || PyBool_Check(v);
}

/// pydantic's errors of `exc` in FastAPI's shape, made here (the common case, no Python): its own dicts, each `loc`
/// after "body". Null (no error set) when one needs the Python description: a JSON decoding error, an error type
/// that validating the parsed value words otherwise, an input or context value that is not short text or a number.
nb::object native_pydantic_errors(nb::handle exc, bool members) {
  static PyObject* kwnames = Py_BuildValue("(s)", "include_url");
  static PyObject* method = PyUnicode_InternFromString("errors");
  PyObject* args[2] = {exc.ptr(), Py_False};
  PyObject* found = PyObject_VectorcallMethod(method, args, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, kwnames);
  if (!found) {
    PyErr_Clear();
    return {};
  }
  nb::object list = nb::steal(found);
  if (!PyList_Check(found)) return {};
  const Py_ssize_t n = PyList_GET_SIZE(found);
  for (Py_ssize_t i = 0; i < n; ++i) {  // first look, change nothing: the Python description may be needed
    PyObject* e = PyList_GET_ITEM(found, i);
    PyObject* type = PyDict_Check(e) ? PyDict_GetItemString(e, "type") : nullptr;
    PyObject* input = PyDict_Check(e) ? PyDict_GetItemString(e, "input") : nullptr;
    if (!type || !input || !PyUnicode_Check(type)) return {};
    for (const char* t : {"json_invalid", "model_type", "dataclass_type"})
      if (PyUnicode_CompareWithASCIIString(type, t) == 0) return {};
    if (!is_scalar(input) && !(PyUnicode_CheckExact(input) && PyUnicode_GET_LENGTH(input) <= kMaxInputChars))
      return {};
    if (PyObject* ctx = PyDict_GetItemString(e, "ctx")) {
      if (!PyDict_Check(ctx)) return {};
      PyObject *k, *v;
      Py_ssize_t pos = 0;
      while (PyDict_Next(ctx, &pos, &k, &v))
        if (!is_scalar(v) && !PyUnicode_CheckExact(v)) return {};
    }
  }
  nb::object body = nb::str("body");
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* e = PyList_GET_ITEM(found, i);
    PyObject* loc = PyDict_GetItemString(e, "loc");
    const Py_ssize_t depth = loc && PyTuple_Check(loc) ? PyTuple_GET_SIZE(loc) : 0;
    nb::object full = nb::steal(PyList_New(depth + 1));
    PyList_SET_ITEM(full.ptr(), 0, nb::object(body).release().ptr());
    for (Py_ssize_t j = 0; j < depth; ++j)
      PyList_SET_ITEM(full.ptr(), j + 1, nb::borrow(PyTuple_GET_ITEM(loc, j)).release().ptr());
    PyDict_SetItemString(e, "loc", full.ptr());
    // FastAPI validates each member of an embedded body alone: a missing one has no input
    if (members && depth == 1 && PyUnicode_CompareWithASCIIString(PyDict_GetItemString(e, "type"), "missing") == 0)
      PyDict_SetItemString(e, "input", Py_None);
  }
  return list;
}

}  // namespace

bool refused_body(Refusals& st, nb::handle refusal, nb::handle data) {
  nb::python_error e;
  if (PyTuple_Check(refusal.ptr())) {  // (description in Python, pydantic's ValidationError, members)
    PyObject* error_type = PyTuple_GET_ITEM(refusal.ptr(), 1);
    if (PyObject_TypeCheck(e.value().ptr(), reinterpret_cast<PyTypeObject*>(error_type))) {
      bool members = PyObject_IsTrue(PyTuple_GET_ITEM(refusal.ptr(), 2)) == 1;
      if (nb::object list = native_pydantic_errors(e.value(), members)) {
        if (!st.body_errors) st.body_errors = nb::steal(PyList_New(0));
        for (nb::handle item : list) PyList_Append(st.body_errors.ptr(), item.ptr());
        if (!st.body) st.body = nb::borrow(data);
        return true;
      }
    }
    refusal = PyTuple_GET_ITEM(refusal.ptr(), 0);
  }
  PyObject* found = PyObject_CallFunctionObjArgs(refusal.ptr(), e.value().ptr(), data.ptr(), nullptr);
  if (!found) return false;  // the refusal's own failure is the error now
  if (found == Py_None) {
    Py_DECREF(found);
    e.restore();
    return false;
  }
  nb::object list = nb::steal(found);
  if (!st.body_errors) st.body_errors = nb::steal(PyList_New(0));
  for (nb::handle item : list) PyList_Append(st.body_errors.ptr(), item.ptr());
  if (!st.body) st.body = nb::borrow(data);
  return true;
}

bool raise_refusals(Refusals& st, nb::handle param_error) {
  if (st.body_errors) {  // FastAPI lists the body's refusals after the parameters'
    if (!st.errors) st.errors = nb::steal(PyList_New(0));
    for (nb::handle e : st.body_errors) PyList_Append(st.errors.ptr(), e.ptr());
    st.body_errors.reset();
  }
  if (!st.errors && st.plain_name.empty()) return false;
  try {
    nb::object exc = !st.plain_name.empty() || !globals().validation_error
                         ? param_error(nb::str(st.plain_message.c_str(), st.plain_message.size()),
                                       nb::str(st.plain_name.c_str(), st.plain_name.size()))
                         : globals().validation_error(st.errors, st.body ? st.body : nb::none());
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  } catch (nb::python_error& e) {
    e.restore();
  }
  return true;
}

}  // namespace tiercel::py
