// HTTP/2 (RFC 9113) with nghttp2 for framing, HPACK and flow control. Each stream (http2_stream.h) routes its request
// as an HTTP/1.1 connection does (core/request_routing.h) and is the Responder its answer goes through, handed to
// nghttp2 as HEADERS and DATA: routing, middleware, streaming, server-sent events, static files and the limits work
// the same over both protocols, with no HTTP/1.1 text in between.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/connection_env.h"
#include "core/protocol.h"
#include "core/transport.h"

typedef struct nghttp2_session nghttp2_session;

namespace tiercel {

struct TlsInfo;
class Http2Stream;

/// The client preface of prior-knowledge HTTP/2 over cleartext (h2c).
constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether `first` (the first bytes of a cleartext connection) begins, or could begin, the HTTP/2 preface.
inline bool looks_like_h2_preface(std::string_view first) noexcept {
  size_t n = first.size() < kHttp2Preface.size() ? first.size() : kHttp2Preface.size();
  return n > 0 && first.substr(0, n) == kHttp2Preface.substr(0, n);
}

/// One HTTP/2 connection, driven by its transport like an Http1Connection: bytes in, frames out.
class Http2Connection final : public Protocol {
 public:
  Http2Connection(ConnectionEnv& env, Transport& transport, std::string peer_ip);
  ~Http2Connection() override;
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  // --- transport side (Protocol) ---
  void on_read(std::string_view data);
  void on_input(char* data, size_t n) override { on_read(std::string_view(data, n)); }
  /// The peer finished sending: the connection closes (what its streams were doing is cancelled).
  void on_eof() override { transport_.close(); }
  /// The peer finished sending, or the transport is gone: every stream's work is cancelled.
  void on_transport_closed() override;
  void release() noexcept override { delete this; }
  /// Output that was over the watermark has been written.
  void on_drained() override;
  uint64_t deadline() const noexcept override;
  void on_timeout() override;
  /// Graceful shutdown: GOAWAY; the streams already open finish, then the connection closes.
  void drain() override;
  /// drain() when no stream is open; otherwise the streams finish first.
  void close_idle() override {
    if (streams_.empty()) drain();
  }
  /// The loop's next turn, after transport().wake_later(): frees the streams that closed outside the transport's
  /// calls (from inside an answer), and sends what is pending.
  void on_later() override;
  size_t open_streams() const noexcept { return streams_.size(); }

  // --- for streams ---
  ConnectionEnv& env() noexcept { return env_; }
  Transport& transport() noexcept { return transport_; }
  const std::string& peer_ip() const noexcept { return peer_ip_; }
  nghttp2_session* ng() noexcept { return ng_; }
  /// Sends what nghttp2 has queued (later, when called from inside nghttp2's callbacks).
  void flush();
  /// What the connection holds unsent: the streams' answer bytes nghttp2 has not taken, and the output.
  size_t held() const noexcept { return buffered_ + out_.size() + transport_.unsent_bytes(); }
  /// A stream took `n` more answer bytes (buffer) or handed `n` to nghttp2 or dropped them (unbuffer).
  void buffer(size_t n);
  void unbuffer(size_t n);
  /// Window to give back for request body bytes the application has taken.
  void consume(int32_t stream_id, size_t n) { consumed_.emplace_back(stream_id, n); }

 private:
  friend class Http2Callbacks;
  class Entry;
  Http2Stream* stream(int32_t id) noexcept;
  void close_stream(int32_t id);
  void reap();
  /// A connection error (or the idle end): GOAWAY with `code`; nothing more is read.
  void fail(uint32_t code);
  /// One RST_STREAM from the client, within the rapid-reset budget (a token bucket); false once it is spent.
  bool take_reset_token();
  /// Appends the next piece of nghttp2's output to out_; false when it has none.
  bool take_output();
  uint64_t stream_deadline(const Http2Stream& s) const noexcept;
  void after_callbacks();
  void update_idle_deadline();

  ConnectionEnv& env_;
  Transport& transport_;
  std::string peer_ip_;
  nghttp2_session* ng_ = nullptr;
  std::map<int32_t, Http2Stream*> streams_;     // each holds a reference (Http2Stream::release)
  std::vector<Http2Stream*> closed_streams_;     // closed, their reference not yet dropped (reap())
  std::vector<Http2Stream*> drained_;
  std::vector<std::pair<int32_t, size_t>> consumed_;
  std::string out_;
  uint64_t idle_deadline_ms_ = 0;
  size_t buffered_ = 0;            // the streams' buffered() together
  uint64_t data_progress_ms_ = 0;  // when answer bytes last went to nghttp2 (or began to wait)
  uint32_t empty_frames_ = 0;   // empty DATA frames received (a flood ends the connection)
  uint32_t continuations_ = 0;  // CONTINUATION frames in a row
  double reset_tokens_ = 1000;  // RST_STREAM frames the client may still send now (take_reset_token())
  uint64_t reset_refill_ms_ = 0;
  int callback_depth_ = 0;  // inside nghttp2 (mem_recv / mem_send): no re-entry, flush afterwards
  int entry_depth_ = 0;     // inside a call from the transport or the loop (Entry): closed streams wait for its end
  bool goaway_sent_ = false;  // a GOAWAY left nghttp2
  bool want_flush_ = false;
  bool draining_ = false;
  bool closed_ = false;
  bool failed_ = false;
};

}  // namespace tiercel
