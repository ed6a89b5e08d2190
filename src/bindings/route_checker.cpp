// RouteChecker: the core's router alone, for checking routes as the app declares them (tiercel/routers.py): a bad
// pattern, or one that clashes with an earlier route, is refused at the decorator rather than at start-up.
#include "bindings/route_checker.h"

namespace tiercel::py {

uint32_t add_checked_route(RouteTable& table, std::string_view method, std::string_view path) {
  auto m = parse_method(method);
  if (!m) throw nb::value_error(("unknown HTTP method '" + std::string(method) + "'").c_str());
  std::string error;
  uint32_t id = table.add(*m, path, error);
  if (id == UINT32_MAX) throw nb::value_error(error.c_str());
  return id;
}

namespace {

class RouteChecker {
 public:
  void add(std::string_view method, std::string_view path) { add_checked_route(routes_, method, path); }

 private:
  RouteTable routes_;
};

}  // namespace

void bind_route_checker(nb::module_& m) {
  nb::class_<RouteChecker>(m, "RouteChecker", "Checks route patterns as they are declared (no handlers kept).")
      .def(nb::init<>())
      .def("add", &RouteChecker::add, nb::arg("method"), nb::arg("path"),
           "Adds the route's pattern; ValueError for an unknown method, a bad pattern or a clash with an earlier "
           "route.");
}

}  // namespace tiercel::py
