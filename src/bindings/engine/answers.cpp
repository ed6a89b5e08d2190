// A handler's result turned into the answer: rendered, compressed, with the route's global headers, CORS and
// the session cookie; the engine's own 500; a request's background tasks queued once its answer is out.
#include <unistd.h>

#include "bindings/engine/engine.h"

namespace tiercel::py {

void Engine::queue_tasks(nb::handle tasks, const Route& rt) noexcept {
  if (!tasks) return;
  try {
    tasks_runner.queue(tasks, rt.method, rt.path);
  } catch (nb::python_error& e) {
    e.restore();
    log_current_exception("Cannot queue the background tasks", rt.method, rt.path);
  } catch (const std::exception& e) {
    log_message(std::string("Cannot queue the background tasks for ") + rt.method + " " + rt.path + ": " + e.what());
  }
}

void Engine::write_result(Responder& conn, uint64_t seq, const ResponseContext& ctx, nb::handle result,
                          const Route& rt, nb::handle request) {
  QueueTasksAfter after{this, rt, take_tasks(request)};
  nb::object* tasks = after.tasks ? &after.tasks : nullptr;
  if (nb::isinstance<StreamingResponse>(result))
    return start_stream(conn, seq, ctx, result, rt, request, tasks);
  if (nb::isinstance<FileResponse>(result)) {
    auto& f = nb::cast<const FileResponse&>(result);
    static const std::vector<http1::Header> kNoHeaders;
    const Request* r = request ? nb::inst_ptr<Request>(request) : nullptr;
    FileAnswer a = answer_file(f.path, r && r->headers ? *r->headers : kNoHeaders, false, f.file_name);
    if (a.status == 404 && a.fd < 0)
      log_message("serve_file: no such file '" + f.path + "' for " + rt.method + " " + rt.path);
    std::string own, error;
    bool has_ct = false;
    if (!response_header_lines(f.headers, own, has_ct, error)) {
      log_message("Bad headers on the FileResponse for " + rt.method + " " + rt.path + ": " + error);
      if (a.fd >= 0) ::close(a.fd);
      return write_error(conn, seq, ctx, rt);
    }
    if (!own.empty()) {  // the hook's or handler's headers win over the file's own of the same name
      std::string merged = own;
      append_absent(merged, own, a.header_lines);
      a.header_lines = std::move(merged);
    }
    if (a.status == 200 && f.status_code != 200) a.status = f.status_code;
    return send_file_answer(conn, seq, ctx, rt, a, tasks);
  }
  Rendered r;
  std::string error;
  size_t length = 0;
  if (!render_result(result, r, error) || !framed_length(r, ctx.head_request, length, error)) {
    log_message("Bad return value from handler for " + rt.method + " " + rt.path + ": " + error);
    write_error(conn, seq, ctx, rt);
    return;
  }
  std::string compressed;
  std::string_view body = r.body;
  std::string encoding_lines;
  if (compression) {
    encoding_lines = compression->apply(r, request, compressed);
    if (!compressed.empty()) body = compressed;
  }
  ResponseHead head{r.status, std::move(r.header_lines)};
  finish_fields(head.fields, rt, ctx, request, encoding_lines);
  // r.body_owner (or `compressed`) keeps the bytes alive through the call
  conn.respond(seq, head, body, ctx, compressed.empty() ? length : body.size());
}

void Engine::finish_fields(std::string& fields, const Route& rt, const ResponseContext& ctx, nb::handle request,
                           std::string_view encoding_lines) const {
  // Each added only where the answer's own fields do not set it.
  std::string added;
  const std::string_view own = fields;
  append_absent(added, own, encoding_lines);  // the answer's Vary may say it already
  if (!rt.global_lines.empty()) append_absent(added, own, rt.global_lines);
  if (cors) cors->append_response_lines(added, ctx.cors_origin, own);
  if (sessions && request) append_session_cookie(*nb::inst_ptr<Request>(request), added);
  fields.append(added);
}

void Engine::write_error(Responder& conn, uint64_t seq, const ResponseContext& ctx, const Route& rt) {
  conn.respond_text(seq, 500, "Internal Server Error\n", ctx, error_lines(rt, ctx));
}

std::string Engine::error_lines(const Route& rt, const ResponseContext& ctx) const {
  std::string lines = rt.global_lines;
  if (cors) cors->append_response_lines(lines, ctx.cors_origin, rt.global_lines);
  return lines;
}

}  // namespace tiercel::py
