// Responder: how the application answers a connection's requests, whatever the protocol. Every answer is a status
// and header fields as values, then a whole body, a stream, or the bytes of a file; the protocol (HTTP/1.1 in
// Http1Connection, HTTP/2 in Http2Connection) frames it. The dispatcher also takes a request's streamed body and
// the connection's backpressure through it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/response_writer.h"

namespace tiercel {

class BodySink;        // core/dispatcher.h
struct ConnectionEnv;   // core/connection_env.h
class Http1Connection;

/// A response's status and header fields. `fields` holds "Name: value\r\n" lines whose names and values were checked
/// by whoever made them (is_header_name, is_header_value). The protocol adds what is its own: the framing
/// (Content-Length, Transfer-Encoding), the connection's fields, and Date and Server unless `fields` holds them.
struct ResponseHead {
  int status = 200;
  std::string fields;
};

/// The fields of a text/plain answer: its Content-Type, then each of `extra` (each line ending in CRLF) but a second
/// Content-Type.
std::string text_fields(std::string_view extra);

/// A connection as the application answering its requests sees it. Requests are named by `seq`, the number the
/// connection gave them in RoutedRequest's dispatch.
class Responder {
 public:
  /// respond()'s `length` when the body's own size is what the head announces.
  static constexpr uint64_t kBodySize = UINT64_MAX;

  /// The whole answer to `seq`. `length` is the body size the head announces when it differs from `body` (a HEAD
  /// request's answer, whose body is not sent, describes the GET's). No body follows for HEAD, 1xx, 204 and 304.
  /// `body` need only live during the call. An answer whose `ctx.keep_alive` is false is the connection's last.
  virtual void respond(uint64_t seq, const ResponseHead& head, std::string_view body, const ResponseContext& ctx,
                       uint64_t length = kBodySize) = 0;
  /// A whole text/plain answer, its fields `extra` besides the Content-Type.
  void respond_text(uint64_t seq, int status, std::string_view text, const ResponseContext& ctx,
                    std::string_view extra = {}) {
    respond(seq, ResponseHead{status, text_fields(extra)}, text, ctx);
  }

  /// Starts the answer to `seq` as a stream: its head now, the body through stream_write() and stream_send_file()
  /// as it is produced, then stream_end(). `length`, when known (a file), is announced and framed by; else the
  /// protocol frames the body itself (chunked over HTTP/1.1, DATA frames over HTTP/2). Returns false when no body
  /// may follow (HEAD, 1xx, 204, 304): the answer is complete already, and the stream calls must not come.
  /// `token` goes to Dispatcher::on_writable once the stream may write again after stream_writable() said no, and to
  /// Dispatcher::cancel if the connection dies first.
  virtual bool stream_begin(uint64_t seq, const ResponseHead& head, const ResponseContext& ctx, uint64_t length,
                            void* token) = 0;
  /// stream_begin()'s `length` when it is not known.
  static constexpr uint64_t kUnknownLength = UINT64_MAX;
  /// The next bytes of the body (not framed; empty ones are ignored). They go out with the next flush_output(), or
  /// any later send, so a batch of small writes costs one system call.
  virtual void stream_write(uint64_t seq, std::string_view data) = 0;
  /// Sends the next `count` body bytes from the file `fd` at `offset` straight from the page cache: the bytes sent,
  /// 0 when not now (the stream is not the connection's current answer, or output is queued), -1 when the transport
  /// cannot (stream_write() what is read instead).
  virtual ssize_t stream_send_file(uint64_t seq, int fd, uint64_t offset, size_t count) = 0;
  /// The stream of `seq` is complete; with `abort` it was cut short (the producer failed, the file shrank): the
  /// client must not take it for a complete answer, so the connection (HTTP/1.1) or the stream (HTTP/2) is reset.
  virtual void stream_end(uint64_t seq, bool abort = false) = 0;
  /// Ends the stream of `seq` whole, with trailer fields after its body ("Name: value\r\n" lines whose names and
  /// values were checked by whoever made them) where its framing has room for them: the last chunk over HTTP/1.1
  /// chunked, a HEADERS frame over HTTP/2. A Content-Length or close-delimited body has none: the fields are
  /// dropped and the stream simply ends.
  virtual void stream_end_with_trailers(uint64_t seq, std::string_view fields) = 0;
  /// Whether the stream of `seq` should produce more now. When not, Dispatcher::on_writable(token) follows.
  virtual bool stream_writable(uint64_t seq) = 0;
  /// How many bytes the producer of `seq`'s stream may make ahead of sending them: its share of what the write
  /// watermark leaves, at least 1; 0 when it is not stream_writable() (on_writable follows).
  virtual size_t stream_budget(uint64_t seq) = 0;
  /// Sends what stream_write() left waiting.
  virtual void flush_output() = 0;

  /// Request `seq` is answered later; `token` goes to Dispatcher::cancel if the connection dies first.
  virtual void defer(uint64_t seq, void* token) = 0;
  /// Deferred answers keep the connection alive through these.
  virtual void retain() noexcept = 0;
  virtual void release() noexcept = 0;
  virtual ConnectionEnv& env() noexcept = 0;
  /// The connection is gone: an answer now goes nowhere.
  virtual bool closed() const noexcept = 0;

  /// The body of request `seq`, dispatched with `body_streamed`, goes to `sink` from now on (the bytes already
  /// received first). Until a sink is set the connection reads no further than it holds.
  virtual void set_body_sink(BodySink* sink) = 0;
  /// `sink` is going away (its handler is done with the body): the rest of the body is not read.
  virtual void drop_body_sink(BodySink* sink) noexcept = 0;
  /// The sink took what it held (after BodySink::on_body returned false): read on.
  virtual void resume_body() = 0;

  /// The HTTP/1.1 connection, which can switch protocols (WebSocket); null over HTTP/2.
  virtual Http1Connection* http1() noexcept { return nullptr; }

 protected:
  ~Responder() = default;
};

}  // namespace tiercel
