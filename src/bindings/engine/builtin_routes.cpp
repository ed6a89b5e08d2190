// The routes the Engine answers without a handler: static directories, CORS preflights and plain OPTIONS,
// and the Prometheus metrics.
#include <climits>
#include <cstdlib>
#include <sys/stat.h>
#include <unistd.h>

#include "bindings/engine/engine.h"

namespace tiercel::py {

void Engine::set_metrics(nb::object memory, size_t nblocks, size_t own, size_t max_routes, std::string_view path) {
  if (metrics_view.obj) throw std::runtime_error("metrics are already set");
  if (own >= nblocks) throw nb::value_error("the metrics block is out of range");
  if (route_info.size() + 1 > max_routes) throw nb::value_error("max_routes is smaller than the routes");
  if (PyObject_GetBuffer(memory.ptr(), &metrics_view, PyBUF_WRITABLE) != 0) throw nb::python_error();
  size_t need = nblocks * Telemetry::block_words(max_routes) * sizeof(uint64_t);
  if (static_cast<size_t>(metrics_view.len) < need ||
      reinterpret_cast<uintptr_t>(metrics_view.buf) % alignof(uint64_t) != 0) {
    PyBuffer_Release(&metrics_view);
    metrics_view = {};
    throw nb::value_error("the metrics memory is too small or not aligned");
  }
  add_native_route(RouteKind::kMetrics, "GET", path);
  telemetry.base = static_cast<uint64_t*>(metrics_view.buf);
  telemetry.nblocks = nblocks;
  telemetry.own = own;
  telemetry.max_routes = max_routes;
  for (auto& rt : route_info) {
    std::string label = "route=\"";
    for (char c : rt.path) {
      if (c == '"' || c == '\\') label.push_back('\\');
      label.push_back(c);
    }
    label += "\",method=\"" + rt.method + "\"";
    telemetry.route_labels.push_back(std::move(label));
  }
  tasks_runner.telemetry = &telemetry;
  telemetry_on = true;
  observe();
}

void Engine::write_metrics(Responder& conn, uint64_t seq, const ResponseContext& ctx) {
  conn.respond(seq, ResponseHead{200, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"},
               telemetry.render(), ctx);
}

uint32_t Engine::add_preflight_route(std::string_view path, std::string allow_methods) {
  if (!cors) throw std::runtime_error("preflight routes need set_cors first");
  add_native_route(RouteKind::kPreflight, "OPTIONS", path).allow_methods = std::move(allow_methods);
  return static_cast<uint32_t>(route_info.size() - 1);
}

void Engine::write_preflight(Responder& conn, uint64_t seq, const http1::RequestHead& head,
                             const ResponseContext& ctx, const Route& rt) {
  std::string lines, message;
  int status = 204;
  if (find_header(head.headers, "origin") && find_header(head.headers, "access-control-request-method"))
    status = cors->preflight(head, rt.allow_methods, lines, message);
  else
    lines.append("Allow: ").append(rt.allow_methods).append("\r\n");
  const std::string own = lines;  // the global headers too, as on the connection's other own answers
  append_absent(lines, own, config.extra_header_lines);
  if (status == 204) {
    conn.respond(seq, ResponseHead{204, std::move(lines)}, {}, ctx);
  } else {
    conn.respond_text(seq, status, message + "\n", ctx, lines);
  }
}

void Engine::add_static_route(std::string_view prefix, const std::string& root, std::string index, bool listing,
                              const std::vector<std::pair<std::string, std::string>>& response_headers) {
  std::string global_lines = header_lines(response_headers);
  char buf[PATH_MAX];
  if (!realpath(root.c_str(), buf)) throw nb::value_error(("no such directory: '" + root + "'").c_str());
  std::string base(prefix);
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  for (std::string pattern : {base, (base == "/" ? std::string() : base) + "/*path"}) {
    Route& rt = add_native_route(RouteKind::kStatic, "GET", pattern);
    rt.static_dir = StaticDir{buf, index, listing};
    rt.global_lines = global_lines;
  }
}

void Engine::serve_static(Responder& conn, uint64_t seq, const RoutedRequest& req, const ResponseContext& ctx,
                          const Route& rt) {
  std::string rel;
  for (auto& p : req.params) {
    if (p.name == "path") rel = percent_decode(p.value, false);
  }
  std::string path;
  if (!resolve_under(rt.static_dir.root, rel, path)) {
    FileAnswer refused;
    refused.status = 404;
    refused.text = "Not Found\n";
    return send_file_answer(conn, seq, ctx, rt, refused);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    std::string index;
    struct stat ist {};
    const StaticDir& dir = rt.static_dir;
    bool has_index = !dir.index.empty() && resolve_under(dir.root, rel + "/" + dir.index, index) &&
                     ::stat(index.c_str(), &ist) == 0 && S_ISREG(ist.st_mode);
    std::string_view asked = req.head.path;  // as Robyn: a directory's URL ends in '/', so relative links work
    if ((has_index || rt.static_dir.listing) && !asked.empty() && asked.back() != '/' && asked.substr(0, 2) != "//") {
      FileAnswer moved;
      moved.status = 302;
      moved.header_lines = "Location: " + std::string(asked) + "/\r\n";
      return send_file_answer(conn, seq, ctx, rt, moved);
    }
    if (has_index) {
      FileAnswer a = answer_file(index, req.head.headers, true, {});
      return send_file_answer(conn, seq, ctx, rt, a);
    }
    FileAnswer a;
    if (rt.static_dir.listing) {
      a.header_lines = "Content-Type: text/html; charset=utf-8\r\n";
      a.text = directory_listing(path, percent_decode(req.head.path, false));
    } else {
      a.status = 404;
      a.text = "Not Found\n";
    }
    return send_file_answer(conn, seq, ctx, rt, a);
  }
  FileAnswer a = answer_file(path, req.head.headers, true, {});
  send_file_answer(conn, seq, ctx, rt, a);
}

}  // namespace tiercel::py
