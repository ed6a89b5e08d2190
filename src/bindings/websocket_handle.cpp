// The Python face of a WebSocket connection: the `WebSocket` object a handler and its hooks get. Every object for
// one connection compares equal (and hashes alike), so a set of connections kept by on_connect / on_close works.
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include "bindings/websocket.h"

namespace tiercel::py {

namespace {

/// The opcode and payload of a message given as str or bytes; TypeError naming `what` for any other type.
ws::Opcode message_of(nb::handle data, std::string_view& payload, const char* what) {
  ws::Opcode op;
  if (message_payload(data, op, payload)) return op;
  nb::handle type(reinterpret_cast<PyObject*>(Py_TYPE(data.ptr())));
  std::string message = std::string(what) + " sends str (a text message) or bytes (a binary one), got " +
                        nb::cast<std::string>(type.attr("__name__"));
  throw nb::type_error(message.c_str());
}

}  // namespace

void bind_websocket(nb::module_& m) {
  nb::class_<WebSocketHandle>(m, "WebSocket", "A WebSocket connection, as its handler sees it.")
      .def(
          "receive_text", [](WebSocketHandle& w) { return w.conn->receive(WsConn::Want::kText); },
          nb::sig("def receive_text(self) -> collections.abc.Awaitable[str]"),
          "The next message as str (WebSocketDisconnect once the connection is closed).")
      .def(
          "receive_bytes", [](WebSocketHandle& w) { return w.conn->receive(WsConn::Want::kBytes); },
          nb::sig("def receive_bytes(self) -> collections.abc.Awaitable[bytes]"), "The next message as bytes.")
      .def(
          "receive", [](WebSocketHandle& w) { return w.conn->receive(WsConn::Want::kAny); },
          nb::sig("def receive(self) -> collections.abc.Awaitable[str | bytes]"),
          "The next message: str for a text message, bytes for a binary one.")
      .def(
          "send_text",
          [](WebSocketHandle& w, nb::str text) {
            Py_ssize_t n = 0;
            const char* p = PyUnicode_AsUTF8AndSize(text.ptr(), &n);
            if (!p) throw nb::python_error();
            return w.conn->send(ws::kText, std::string_view(p, static_cast<size_t>(n)));
          },
          nb::arg("data"), nb::sig("def send_text(self, data: str) -> collections.abc.Awaitable[None]"),
          "Sends a text message; awaiting it waits while the client is slow to read (backpressure).")
      .def(
          "receive_json", [](WebSocketHandle& w) { return w.conn->receive(WsConn::Want::kJson); },
          nb::sig("def receive_json(self) -> collections.abc.Awaitable[typing.Any]"),
          "The next message parsed as JSON (ValueError when it is not JSON).")
      .def(
          "send_json",
          [](WebSocketHandle& w, nb::handle obj) {
            nb::object dumped = globals().json_dumps(obj);
            return w.conn->send(ws::kText, std::string_view(PyBytes_AS_STRING(dumped.ptr()),
                                                            static_cast<size_t>(PyBytes_GET_SIZE(dumped.ptr()))));
          },
          nb::arg("data"), nb::sig("def send_json(self, data: typing.Any) -> collections.abc.Awaitable[None]"),
          "Sends `data` as a JSON text message.")
      .def(
          "send_bytes",
          [](WebSocketHandle& w, nb::bytes data) {
            return w.conn->send(ws::kBinary, std::string_view(data.c_str(), data.size()));
          },
          nb::arg("data"), nb::sig("def send_bytes(self, data: bytes) -> collections.abc.Awaitable[None]"),
          "Sends a binary message.")
      .def(
          "close",
          [](WebSocketHandle& w, uint16_t code, std::string reason) { return w.conn->close(code, reason); },
          nb::arg("code") = 1000, nb::arg("reason") = "",
          nb::sig("def close(self, code: int = 1000, reason: str = '') -> collections.abc.Awaitable[None]"),
          "Starts the closing handshake with `code` and `reason`.")
      .def(
          "send",
          [](WebSocketHandle& w, nb::handle data) {
            std::string_view payload;
            return w.conn->send(message_of(data, payload, "send"), payload);
          },
          nb::arg("data"), nb::sig("def send(self, data: str | bytes) -> collections.abc.Awaitable[None]"),
          "Sends a str as a text message, bytes as a binary one.")
      .def(
          "broadcast",
          [](WebSocketHandle& w, nb::handle data) {
            std::string_view payload;
            ws::Opcode op = message_of(data, payload, "broadcast");
            size_t sent = 0;
            auto& all = w.conn->route->connections;
            for (WsConn* c : std::vector<WsConn*>(all.begin(), all.end())) {
              if (!c->open()) continue;  // closing or closed: it takes no more messages
              c->send(op, payload);
              ++sent;
            }
            // Already sent (queued for the next write): the awaitable is done, its result the count.
            nb::object done = w.conn->host->loop.attr("create_future")();
            done.attr("set_result")(sent);
            return done;
          },
          nb::arg("data"), nb::sig("def broadcast(self, data: str | bytes) -> collections.abc.Awaitable[int]"),
          "Sends `data` (str as text, bytes as binary) to every open connection of this route in this process, this "
          "one included, as Robyn does; `await` gives how many (awaiting is optional: the messages are queued "
          "at once).")
      .def_prop_ro("id", [](WebSocketHandle& w) { return w.conn->id; })
      .def_prop_ro("request", [](WebSocketHandle& w) { return w.conn->request; },
                   nb::sig("def request(self) -> Request"))
      .def_prop_ro("path_params", [](WebSocketHandle& w) { return w.conn->request.attr("path_params"); },
                   nb::sig("def path_params(self) -> dict[str, str]"))
      .def_prop_ro("query_params", [](WebSocketHandle& w) { return w.conn->request.attr("query_params"); },
                   nb::sig("def query_params(self) -> QueryParams"))
      .def_prop_ro("headers", [](WebSocketHandle& w) { return w.conn->request.attr("headers"); },
                   nb::sig("def headers(self) -> Headers"))
      .def_prop_ro("close_code", [](WebSocketHandle& w) { return w.conn->close_code; })
      .def_prop_ro("closed", [](WebSocketHandle& w) { return w.conn->closed(); })
      .def("__eq__", [](WebSocketHandle& w, nb::handle other) {
        return nb::isinstance<WebSocketHandle>(other) && nb::cast<WebSocketHandle&>(other).conn == w.conn;
      }, nb::sig("def __eq__(self, other: object) -> bool"))
      .def("__hash__", [](WebSocketHandle& w) { return std::hash<WsConn*>()(w.conn.get()); })
      .def("__repr__", [](WebSocketHandle& w) { return "<WebSocket " + w.conn->id + ">"; });
}

}  // namespace tiercel::py
