// Headers and QueryParams: the case-insensitive multi-maps handlers read and responses carry.
#include <nanobind/stl/optional.h>

#include "bindings/py_types.h"

namespace tiercel::py {

long Headers::find(std::string_view name) const noexcept {
  for (size_t i = 0; i < items.size(); ++i) {
    if (ascii_iequal(items[i].first, name)) return static_cast<long>(i);
  }
  return -1;
}

void Headers::set(std::string_view name, std::string_view value) {
  long i = find(name);
  if (i < 0) {
    items.emplace_back(name, value);
    return;
  }
  items[static_cast<size_t>(i)].second = value;
  // `set` replaces every earlier value of the field.
  for (size_t j = items.size(); j-- > static_cast<size_t>(i) + 1;) {
    if (ascii_iequal(items[j].first, name)) items.erase(items.begin() + static_cast<long>(j));
  }
}

void Headers::update_from(nb::handle source) {
  if (source.is_none()) return;
  if (nb::isinstance<Headers>(source)) {
    for (auto& kv : nb::cast<Headers&>(source).items) items.push_back(kv);
    return;
  }
  if (nb::isinstance<nb::dict>(source)) {
    for (auto [k, v] : nb::borrow<nb::dict>(source)) {
      if (!nb::isinstance<nb::str>(k)) throw nb::type_error("header names must be str");
      if (nb::isinstance<nb::list>(v) || nb::isinstance<nb::tuple>(v)) {
        for (nb::handle item : v) append(nb::cast<std::string_view>(k), nb::cast<std::string>(nb::str(item)));
      } else {
        set(nb::cast<std::string_view>(k), nb::cast<std::string>(nb::str(v)));
      }
    }
    return;
  }
  try {
    for (nb::handle pair : source) {
      auto t = nb::cast<std::pair<std::string, std::string>>(pair);
      append(t.first, t.second);
    }
  } catch (const nb::cast_error&) {
    throw nb::type_error("headers must be a dict, a Headers, or an iterable of (name, value) pairs of str");
  } catch (const nb::python_error&) {
    throw nb::type_error("headers must be a dict, a Headers, or an iterable of (name, value) pairs of str");
  }
}

namespace {

nb::object first_or(const std::vector<std::pair<std::string, std::string>>& items, std::string_view key,
                    bool case_insensitive, bool last, nb::handle dflt) {
  const std::string* found = nullptr;
  for (auto& kv : items) {
    bool eq = case_insensitive ? ascii_iequal(kv.first, key) : kv.first == key;
    if (eq) {
      found = &kv.second;
      if (!last) break;
    }
  }
  if (!found) return nb::borrow(dflt);
  return nb::str(found->data(), found->size());
}

nb::list all_of(const std::vector<std::pair<std::string, std::string>>& items, std::string_view key,
                bool case_insensitive) {
  nb::list out;
  for (auto& kv : items) {
    if (case_insensitive ? ascii_iequal(kv.first, key) : kv.first == key) out.append(nb::str(kv.second.c_str(), kv.second.size()));
  }
  return out;
}

}  // namespace

nb::object Headers::copy_of(nb::handle source) {
  Headers h;
  h.update_from(source);
  return nb::cast(std::move(h));
}

void bind_headers(nb::module_& m) {
  nb::class_<Headers>(m, "Headers", "Case-insensitive multi-map of HTTP header fields.")
      .def(
          "__init__",
          [](Headers* self, nb::handle source) {
            new (self) Headers();
            self->update_from(source);
          },
          nb::arg("headers") = nb::none())
      .def(
          "get",
          [](const Headers& h, std::string_view key, nb::handle dflt) { return first_or(h.items, key, true, false, dflt); },
          nb::arg("key"), nb::arg("default") = nb::none(), "First value of `key`, or `default`.")
      .def(
          "get_all", [](const Headers& h, std::string_view key) { return all_of(h.items, key, true); }, nb::arg("key"),
          nb::sig("def get_all(self, key: str) -> list[str]"), "Every value of `key`, in order.")
      .def(
          "contains", [](const Headers& h, std::string_view key) { return h.find(key) >= 0; }, nb::arg("key"))
      .def("__contains__", [](const Headers& h, std::string_view key) { return h.find(key) >= 0; })
      .def(
          "set", [](Headers& h, std::string_view k, std::string_view v) { h.set(k, v); }, nb::arg("key"),
          nb::arg("value"), "Replaces every value of `key` with `value`.")
      .def(
          "append", [](Headers& h, std::string_view k, std::string_view v) { h.append(k, v); }, nb::arg("key"),
          nb::arg("value"), "Adds a value, keeping the existing ones.")
      .def("__getitem__",
           [](const Headers& h, std::string_view key) {
             long i = h.find(key);
             if (i < 0) throw nb::key_error(std::string(key).c_str());
             return h.items[static_cast<size_t>(i)].second;
           })
      .def("__setitem__", [](Headers& h, std::string_view k, std::string_view v) { h.set(k, v); })
      .def("__delitem__",
           [](Headers& h, std::string_view key) {
             if (h.find(key) < 0) throw nb::key_error(std::string(key).c_str());
             std::erase_if(h.items, [&](auto& kv) { return ascii_iequal(kv.first, key); });
           })
      .def("__len__", [](const Headers& h) { return h.items.size(); })
      .def("__iter__",
           [](const Headers& h) {
             nb::list keys;
             for (auto& kv : h.items) keys.append(nb::str(kv.first.c_str(), kv.first.size()));
             return nb::iter(keys);
           },
           nb::sig("def __iter__(self) -> collections.abc.Iterator[str]"))
      .def(
          "items", [](const Headers& h) { return h.items; }, "(name, value) pairs, repeats included.")
      .def("keys",
           [](const Headers& h) {
             std::vector<std::string> out;
             for (auto& kv : h.items) out.push_back(kv.first);
             return out;
           })
      .def("values",
           [](const Headers& h) {
             std::vector<std::string> out;
             for (auto& kv : h.items) out.push_back(kv.second);
             return out;
           })
      .def(
          "to_dict",
          [](const Headers& h) {
            nb::dict d;
            for (auto& kv : h.items) {
              nb::str k(kv.first.c_str(), kv.first.size());
              if (!d.contains(k)) d[k] = nb::str(kv.second.c_str(), kv.second.size());
            }
            return d;
          },
          nb::sig("def to_dict(self) -> dict[str, str]"), "A dict of the first value of each field.")
      .def("__eq__",
           [](const Headers& a, nb::handle other) {
             if (!nb::isinstance<Headers>(other)) return false;
             return a.items == nb::cast<const Headers&>(other).items;
           })
      .def("__repr__", [](const Headers& h) {
        std::string s = "Headers([";
        for (size_t i = 0; i < h.items.size(); ++i) {
          if (i) s += ", ";
          s += "('" + h.items[i].first + "', '" + h.items[i].second + "')";
        }
        return s + "])";
      });

  nb::class_<QueryParams>(m, "QueryParams", "Decoded query parameters, repeats kept in order.")
      .def(
          "__init__",
          [](QueryParams* self, nb::handle source) {
            new (self) QueryParams();
            if (source.is_none()) return;
            for (auto [k, v] : nb::cast<nb::dict>(source)) {
              if (nb::isinstance<nb::list>(v)) {
                for (nb::handle x : v) self->items.emplace_back(nb::cast<std::string>(k), nb::cast<std::string>(nb::str(x)));
              } else {
                self->items.emplace_back(nb::cast<std::string>(k), nb::cast<std::string>(nb::str(v)));
              }
            }
          },
          nb::arg("params") = nb::none())
      .def(
          "get",
          [](const QueryParams& q, std::string_view key, nb::handle dflt) {
            return first_or(q.items, key, false, true, dflt);
          },
          nb::arg("key"), nb::arg("default") = nb::none(), "Last value of `key` (as Robyn), or `default`.")
      .def(
          "get_first",
          [](const QueryParams& q, std::string_view key) { return first_or(q.items, key, false, false, nb::none()); },
          nb::arg("key"), "First value of `key`, or None.")
      .def(
          "get_all", [](const QueryParams& q, std::string_view key) { return all_of(q.items, key, false); },
          nb::arg("key"), nb::sig("def get_all(self, key: str) -> list[str]"), "Every value of `key`, in order.")
      .def(
          "contains",
          [](const QueryParams& q, std::string_view key) {
            for (auto& kv : q.items)
              if (kv.first == key) return true;
            return false;
          },
          nb::arg("key"))
      .def("__contains__",
           [](const QueryParams& q, std::string_view key) {
             for (auto& kv : q.items)
               if (kv.first == key) return true;
             return false;
           })
      .def("__getitem__",
           [](const QueryParams& q, std::string_view key) {
             nb::object v = first_or(q.items, key, false, true, nb::none());
             if (v.is_none()) throw nb::key_error(std::string(key).c_str());
             return v;
           })
      .def("__len__", [](const QueryParams& q) { return q.items.size(); })
      .def("__iter__",
           [](const QueryParams& q) {
             nb::dict seen;
             for (auto& kv : q.items) seen[nb::str(kv.first.c_str(), kv.first.size())] = nb::none();
             return nb::iter(seen);
           },
           nb::sig("def __iter__(self) -> collections.abc.Iterator[str]"))
      .def(
          "to_dict",
          [](const QueryParams& q) {
            nb::dict d;
            for (auto& kv : q.items) {
              nb::str k(kv.first.c_str(), kv.first.size());
              if (!d.contains(k)) d[k] = nb::list();
              nb::borrow<nb::list>(d[k]).append(nb::str(kv.second.c_str(), kv.second.size()));
            }
            return d;
          },
          nb::sig("def to_dict(self) -> dict[str, list[str]]"), "{key: [values...]}, as Robyn.")
      .def("keys",
           [](const QueryParams& q) {
             nb::dict seen;
             for (auto& kv : q.items) seen[nb::str(kv.first.c_str(), kv.first.size())] = nb::none();
             return nb::list(seen.keys());
           },
           nb::sig("def keys(self) -> list[str]"))
      .def("values",
           [](const QueryParams& q) {
             std::vector<std::string> out;
             for (auto& kv : q.items) out.push_back(kv.second);
             return out;
           })
      .def(
          "items", [](const QueryParams& q) { return q.items; }, "(key, value) pairs, repeats included.")
      .def("__repr__", [](const QueryParams& q) {
        std::string s = "QueryParams([";
        for (size_t i = 0; i < q.items.size(); ++i) {
          if (i) s += ", ";
          s += "('" + q.items[i].first + "', '" + q.items[i].second + "')";
        }
        return s + "])";
      });

  nb::class_<Url>(m, "Url", "scheme, host and path of the request URL.")
      .def_ro("scheme", &Url::scheme)
      .def_ro("host", &Url::host)
      .def_ro("path", &Url::path)
      .def("__repr__", [](const Url& u) { return "Url('" + u.scheme + "://" + u.host + u.path + "')"; });
}

}  // namespace tiercel::py
