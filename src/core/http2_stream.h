// One HTTP/2 stream: its request (the fields nghttp2 decoded, the body from DATA frames) is routed and dispatched as
// any request is (core/request_routing.h), and the application answers it through the Responder interface, handed
// to nghttp2 as HEADERS and DATA. Private to the HTTP/2 connection (http2.cpp).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/http2.h"
#include "core/request_routing.h"

namespace tiercel {

class Http2Stream final : public Responder {
 public:
  Http2Stream(Http2Connection& conn, int32_t id);
  Http2Stream(const Http2Stream&) = delete;
  Http2Stream& operator=(const Http2Stream&) = delete;

  // --- the request, from nghttp2's callbacks ---
  /// One field of the request's header block; false when the block is over max_header_bytes.
  bool add_header(std::string_view name, std::string_view value);
  /// The header block is complete (`end_stream`: no body follows): the request is routed, then dispatched or
  /// answered; or, while the connection's output is over its watermark, it waits for on_drained().
  void on_headers_end(bool end_stream);
  /// The next piece of the body. Its window is given back once the application took it.
  void on_body(std::string_view data);
  /// The body is complete.
  void on_body_end();
  /// nghttp2 closed the stream (answered, reset by the client, or the connection is gone): the work still under way
  /// for it is cancelled, and nothing more goes to the connection. The connection drops its reference later.
  void detach();

  // --- the connection's bookkeeping ---
  bool gone() const noexcept { return gone_; }
  /// The header block is complete (before, the stream has no request yet).
  bool headers_done() const noexcept { return headers_done_; }
  /// When the request's header block began (a block never finished holds the whole connection).
  uint64_t opened_ms() const noexcept { return opened_ms_; }
  /// Answer bytes not yet taken by nghttp2 (this stream's window is shut, or the connection's).
  size_t buffered() const noexcept { return out_.size() - out_off_; }
  /// Since when this stream has had bytes to send and sent none (meaningful while buffered() > 0).
  uint64_t progress_ms() const noexcept { return progress_ms_; }
  /// The stream waits for the connection's output to go under the watermark (to start, or to write again).
  bool told_full() const noexcept { return told_full_; }
  void clear_told_full() noexcept { told_full_ = false; }
  /// Reset for no window within write_timeout: its deadline is spent.
  bool starved() const noexcept { return starved_; }
  void starve();
  /// Loop time by which the request's body must make progress (0: none is due).
  uint64_t deadline() const noexcept;
  /// deadline() passed: 408, or the streamed body's reader is told.
  void on_timeout();
  /// The connection's output went under the watermark: a waiting request starts, a waiting stream writes.
  void on_drained();
  /// nghttp2 asks for DATA: what the answer has so far.
  ssize_t read_body(uint8_t* buf, size_t length, uint32_t* flags);

  // --- Responder ---
  void respond(uint64_t seq, const ResponseHead& head, std::string_view body, const ResponseContext& ctx,
               uint64_t length = kBodySize) override;
  bool stream_begin(uint64_t seq, const ResponseHead& head, const ResponseContext& ctx, uint64_t length,
                    void* token) override;
  void stream_write(uint64_t seq, std::string_view data) override;
  /// HTTP/2 frames every byte: file bytes are read and written (-1).
  ssize_t stream_send_file(uint64_t, int, uint64_t, size_t) override { return -1; }
  void stream_end(uint64_t seq, bool abort = false) override;
  void stream_end_with_trailers(uint64_t seq, std::string_view fields) override;
  bool stream_writable(uint64_t seq) override;
  size_t stream_budget(uint64_t seq) override;
  void flush_output() override;
  void defer(uint64_t seq, void* token) override;
  void retain() noexcept override { ++refs_; }
  void release() noexcept override {
    if (--refs_ == 0) delete this;
  }
  ConnectionEnv& env() noexcept override { return env_; }
  bool closed() const noexcept override { return gone_; }
  void set_body_sink(BodySink* sink) override;
  void drop_body_sink(BodySink* sink) noexcept override;
  void resume_body() override;

 private:
  ~Http2Stream() = default;

  /// Where the request's body goes.
  enum class BodyMode : uint8_t {
    kUnrouted,  // the request waits for its turn (routed on_drained())
    kWhole,     // gathered, then the request is dispatched with it (bounded by limits.max_body)
    kSink,      // handed to the BodySink as it arrives (routes with a stream_body_limit)
    kIgnored,   // not wanted: the request is answered (or refused)
  };
  void store_field(std::string_view name, std::string_view value);  // into fields_, after the others
  void route();
  void dispatch(std::string_view body, bool streamed);
  void pump_body();
  void ignore_body();
  void give_back(size_t n);  // window for n body bytes the application took
  /// Refuses the request with `status` and its text (413, 408).
  void refuse(int status, std::string_view text);
  /// HEADERS for the answer: :status, `head`'s fields (names lower-cased, the HTTP/1.1 connection fields left
  /// out), Date and Server unless given, content-length when `length` is known. With `body`, DATA follows.
  void submit(const ResponseHead& head, std::optional<uint64_t> length, bool body);
  void answered(int status, uint64_t bytes);  // the answer is out of the application's hands
  void resume_data();
  /// The trailers_ as a HEADERS frame that ends the stream (from read_body(), as nghttp2 asks).
  void submit_trailers();

  Http2Connection* conn_;
  ConnectionEnv& env_;
  int32_t id_;
  uint64_t opened_ms_;
  uint32_t refs_ = 1;  // the connection's, and the application's while it answers

  // the request
  std::string method_, path_, authority_, cookie_;
  std::string fields_;  // the fields' names and values, back to back (field_ends_ says where)
  std::vector<std::pair<uint32_t, uint32_t>> field_ends_;  // end of each name and of its value in fields_
  size_t header_bytes_ = 0;
  bool has_host_ = false;
  bool has_length_ = false;
  uint64_t content_length_ = 0;
  http1::RequestHead head_;
  std::vector<PathParam> params_;
  ResponseContext ctx_;
  RouteDecision route_;
  ClientView client_;
  std::shared_ptr<const TlsInfo> tls_;  // the connection's, as routing saw it
  std::optional<RequestLog> log_;
  bool headers_done_ = false;
  bool end_stream_ = false;

  // the request's body
  BodyMode mode_ = BodyMode::kUnrouted;
  std::string pending_;    // received, not yet handed on (its window not given back)
  std::string whole_;      // kWhole: the body so far
  uint64_t body_seen_ = 0;
  uint64_t body_limit_ = 0;
  uint64_t body_progress_ms_ = 0;  // when the body last made progress
  BodySink* sink_ = nullptr;
  bool sink_paused_ = false;

  // the answer
  void* token_ = nullptr;  // the application's, until it answers (Dispatcher::cancel if the stream goes first)
  bool answered_ = false;  // the head is out
  bool streaming_ = false; // a stream is under way (stream_begin .. stream_end)
  bool complete_ = false;  // the answer's last byte is in out_
  std::string trailers_;   // fields to send after the body (stream_end_with_trailers), until they are submitted
  bool wants_writable_ = false;
  int status_ = 0;
  uint64_t sent_ = 0;      // answer bytes so far (for the observer)
  std::string out_;        // answer bytes nghttp2 has not taken
  size_t out_off_ = 0;
  uint64_t progress_ms_ = 0;
  bool deferred_ = false;  // nghttp2 was told there was no DATA yet
  bool gone_ = false;
  bool starved_ = false;
  bool told_full_ = false;
};

}  // namespace tiercel
