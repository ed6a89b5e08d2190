// The Engine's life: its native loop embedded in asyncio (the backend fd watched by add_reader, the next
// deadline mirrored into an asyncio timer), the listener and the in-memory connections, and the shutdown.
#include "bindings/engine/engine.h"

namespace tiercel::py {

Engine::~Engine() {
  shutdown();
  telemetry.flush();
  if (metrics_view.obj) PyBuffer_Release(&metrics_view);
}

TcpServer& Engine::tcp_server() {
  if (!server) {
    server = std::make_unique<TcpServer>(ev(), config, routes, *this);
    if (telemetry_on) server->env().observer = &telemetry;
    server->set_warn(log_warning);
  }
  return *server;
}

void Engine::set_access_log(bool on, int fd) {
  telemetry.access_log = on;
  telemetry.log_fd = fd;
  telemetry_on = telemetry_on || on;
  observe();
}

EventLoop& Engine::ev() {
  if (!loop) loop = std::make_unique<EventLoop>();
  return *loop;
}

int Engine::listen(const std::string& host, int port, int backlog, bool reuse_port) {
  tcp_server();
  std::string error;
  int bound = server->listen(host, port, backlog, reuse_port, error);
  if (bound < 0) throw std::runtime_error(error);
  return bound;
}

std::unique_ptr<MemoryConnection> Engine::open_memory_connection(std::string peer_ip) {
  if (!memory_env)
    memory_env = std::make_unique<ConnectionEnv>(
        ConnectionEnv{config, routes, *this, {}, 0, 0, 0, telemetry_on ? &telemetry : nullptr});
  return std::make_unique<MemoryConnection>(*memory_env, std::move(peer_ip));
}

void Engine::attach(nb::object asyncio_loop, nb::object self_poll, nb::object self_on_timer) {
  if (attached) throw std::runtime_error("the engine is already attached to an event loop");
  aio_loop = std::move(asyncio_loop);
  call_at = aio_loop.attr("call_at");
  call_soon = aio_loop.attr("call_soon");
  ensure_future = nb::module_::import_("asyncio").attr("ensure_future");
  tasks_runner.loop = aio_loop;
  tasks_runner.call_soon = call_soon;
  ws_host->loop = aio_loop;
  ws_host->logger = globals().logger;
  ws_host->after_callback = [this]() {
    if (loop && loop->dirty()) poll();
  };
  background = nb::steal(PySet_New(nullptr));
  poll_cb = std::move(self_poll);
  timer_cb = std::move(self_on_timer);
  reader_fd = ev().backend_fd();
  aio_loop.attr("add_reader")(reader_fd, poll_cb);
  attached = true;
  // libuv arms new watchers (the listener) only inside a run: do one now.
  poll();
}

void Engine::detach() {
  if (!attached) return;
  attached = false;
  try {
    aio_loop.attr("remove_reader")(reader_fd);
  } catch (nb::python_error&) {
    // The loop may already be closed; nothing left to unregister then.
  }
  if (timer_handle) timer_handle.attr("cancel")();
  timer_handle.reset();
  // poll_cb is a bound method of this engine: drop it (and the loop) so nothing keeps a cycle alive.
  poll_cb.reset();
  timer_cb.reset();
  tasks_runner.loop.reset();
  tasks_runner.call_soon.reset();
  call_at.reset();
  call_soon.reset();
  aio_loop.reset();
}

void Engine::poll() {
  // From inside a native callback (a WebSocket frame handler, a synchronous answer) the running native loop
  // picks up whatever was started: it runs again while dirty.
  if (loop && loop->running()) return;
  soon_pending = false;
  int t = ev().run_nowait();
  if (attached) schedule(t);
}

void Engine::on_timer() {
  timer_handle.reset();
  poll();
}

void Engine::schedule(int timeout_ms) {
  if (timeout_ms == 0) {
    if (!soon_pending) {
      soon_pending = true;
      call_soon(poll_cb);
    }
    return;
  }
  if (timeout_ms < 0) return;
  double now = monotonic_seconds();
  double when = now + timeout_ms / 1000.0;
  if (!timer_handle || now >= timer_deadline || when < timer_deadline - 0.001) {
    if (timer_handle) timer_handle.attr("cancel")();
    timer_handle = call_at(when, timer_cb);
    timer_deadline = when;
  }
}

void Engine::shutdown() {
  for (Pending* p : pending) {
    p->engine = nullptr;
    cancel_handle(p->task);
  }
  pending.clear();
  for (ResponsePump* st : pumps) {
    if (st->background) queue_tasks(std::move(st->background), route_info[st->route_id]);  // abandoned below
    st->engine = nullptr;
    st->cancelled = true;
    if (st->puller) st->puller->detach();
    cancel_handle(st->task);
    cancel_handle(st->timer);
    if (!st->task && !st->resume_scheduled) {  // no callback will come for it: drop it now
      Responder* s = st->conn;
      delete st;
      s->release();
    }
  }
  pumps.clear();
  for (auto& [call, self] : asgi_calls) {  // their done-callbacks (AsgiCall._done) release the connections
    call->engine = nullptr;
    cancel_handle(call->task);
  }
  asgi_calls.clear();
  tasks_runner.abandon("the server stopped before it finished");
  ws_host->after_callback = nullptr;
  ws_host->conns.clear();
  detach();
  server.reset();
}

}  // namespace tiercel::py
