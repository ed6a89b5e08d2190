// WebSocket connections for Python handlers: the upgraded connection (frames parsed in C++), its route (the
// handler, the on_connect / on_close hooks and their argument plans), and the native `WebSocket` object a handler
// awaits on (receive_*/send_*/close/broadcast). websocket.cpp: the connection; websocket_upgrade.cpp: the
// handshake and the hooks; websocket_handle.cpp: the Python type.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "bindings/arguments.h"
#include "bindings/py_types.h"
#include "core/http1_connection.h"
#include "core/websocket.h"

namespace tiercel::py {

struct WsRoute;
struct WsCallee;
class WsConn;

/// What the engine shares with its WebSocket connections: the asyncio loop, the exception raised on disconnect,
/// and the registry that owns every connection until both its transport and its handler are done.
struct WsHost : std::enable_shared_from_this<WsHost> {
  nb::object loop;         // asyncio loop (create_future, create_task, call_later, call_soon)
  nb::object disconnect;   // tiercel.WebSocketDisconnect
  nb::object logger;
  nb::object param_error;  // tiercel's ParameterError: a typed parameter refused at the upgrade (answered 400)
  uint64_t max_message = 1 << 20;
  double close_timeout = 2.0;  // after our close frame, how long the client has to answer it
  double ping_interval = 20.0; // a ping after this many seconds without a frame from the client (0: never)
  double ping_timeout = 20.0;  // no pong this long after a ping: the connection is dead (close 1011)
  double idle_timeout = 0.0;   // no message either way this long: close 1001 (0: never)
  std::function<void()> after_callback;  // runs the native loop if a callback wrote outside a native run
  std::unordered_map<WsConn*, std::shared_ptr<WsConn>> conns;
  uint64_t next_id = 0;
  /// Connections with frames waiting to be written: flushed together on the loop's next turn, so the frames a
  /// handler sends in one go (an echo of a batch of messages) leave in one write.
  std::vector<std::weak_ptr<WsConn>> unflushed;
  void flush_later(const std::shared_ptr<WsConn>& c);
  void flush_all();
  /// Drops `c` from the registry once its transport and its handler are both done (later, on the loop's next
  /// turn, when `later`: never from inside the connection that is closing).
  void maybe_release(WsConn* c, bool later);
};

/// One upgraded connection.
class WsConn final : public UpgradedProtocol, public ws::FrameHandler, public std::enable_shared_from_this<WsConn> {
 public:
  WsConn(std::shared_ptr<WsHost> host, Http1Connection& conn, std::shared_ptr<WsRoute> route, nb::object request,
         std::string id);
  ~WsConn() override;

  // UpgradedProtocol
  void on_bytes(std::string_view data) override;
  void on_closed() noexcept override;
  void on_drained() noexcept override;
  void on_shutdown() noexcept override;
  // ws::FrameHandler
  void on_message(ws::Opcode opcode, std::string_view data) override;
  void on_ping(std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_close(uint16_t code, std::string_view reason) override;

  // Python side
  /// What a receive_* call wants a message as.
  enum class Want : uint8_t { kAny, kText, kBytes, kJson };
  nb::object receive(Want want);
  /// Writes the frames send() kept back (WsHost::flush_later).
  void flush();
  nb::object send(ws::Opcode opcode, std::string_view data);
  nb::object close(uint16_t code, std::string_view reason);
  bool closed() const noexcept { return state_ == State::kClosed; }
  bool open() const noexcept { return state_ == State::kOpen; }

  std::shared_ptr<WsHost> host;
  std::shared_ptr<WsRoute> route;
  nb::object request;
  std::string id;
  uint16_t close_code = ws::kNoStatus;
  std::string close_reason;
  bool transport_gone = false;
  bool handler_done = false;
  /// The arguments of the handler and the hooks, computed at the upgrade; each is used once (calling drops them).
  std::vector<nb::object> handler_args, connect_args, close_args;
  /// The handler finished (or failed): close the connection if it is still open.
  void handler_finished(nb::handle task);
  /// Calls on_connect (if any); once it is done (it may be async) sends what it returned, then runs the handler.
  void start();

 private:
  enum class State { kOpen, kClosing, kClosed };
  /// callee(its arguments, the connection filled in): a new reference, or null with a Python error set.
  PyObject* call(const WsCallee& callee, std::vector<nb::object>& args);
  /// on_connect returned `result` (not a coroutine): sends it, then starts the handler.
  void connected(nb::handle result);
  /// on_connect raised: the connection is refused with close 1008.
  void refuse(nb::handle exc);
  /// Sends on_connect's result: str as text, bytes as binary, dict/list as JSON, None nothing. False (after
  /// closing with 1011) for any other type.
  bool send_first(nb::handle result);
  void run_handler();
  void fail(uint16_t code, const std::string& reason);
  void finish(uint16_t code, std::string_view reason);  // the connection is over: wake every waiter
  void deliver();
  nb::object disconnected() const;
  nb::object done_future(nb::handle exc = nb::handle());
  /// Server pings and the idle timeout: one timer per connection, rescheduled from timestamps (so frames cost
  /// no timer work).
  void arm_keepalive(double delay);
  void keepalive_tick();

  Http1Connection* conn_;
  ws::Parser parser_;
  State state_ = State::kOpen;
  std::deque<std::pair<ws::Opcode, std::string>> inbox_;
  std::deque<std::pair<nb::object, Want>> receivers_;  // futures waiting for a message, and what they want
  std::vector<nb::object> drain_waiters_;              // send() futures waiting for the output to drain
  nb::object close_timer_;
  nb::object keepalive_timer_;
  bool unflushed_ = false;  // frames are waiting in the connection's output for flush()
  double last_frame_ = 0;    // monotonic seconds of the client's last frame
  double last_message_ = 0;  // of the last message either way
  double ping_sent_ = 0;     // of the ping not answered yet (0: none)
};

/// The handler or a hook of a websocket route, and how it is called.
struct WsCallee {
  nb::object fn;                        // null: the route has no such hook
  std::shared_ptr<const ArgPlan> plan;  // null: fn(websocket)
  explicit operator bool() const noexcept { return fn.is_valid(); }
};

/// A websocket route: the handler, its hooks, and the open connections (for broadcast).
struct WsRoute {
  std::string path;
  WsCallee handler, on_connect, on_close;
  std::set<WsConn*> connections;
};

/// Python's WebSocket: a handle on a WsConn.
struct WebSocketHandle {
  std::shared_ptr<WsConn> conn;
};

/// The opcode and payload of a message given as str (text) or bytes/bytearray (binary); false for another type.
/// `payload` views `data`'s buffer.
bool message_payload(nb::handle data, ws::Opcode& op, std::string_view& payload);

/// Answers a WebSocket upgrade request on a websocket route: 101 and the handler, or 400 saying what is wrong.
void start_websocket(const std::shared_ptr<WsHost>& host, const std::shared_ptr<WsRoute>& route, Responder& conn,
                     uint64_t seq, const RoutedRequest& req, const ResponseContext& ctx, nb::object request);

}  // namespace tiercel::py
