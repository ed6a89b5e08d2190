// One HTTP/1.1 connection's protocol logic — bytes in, parse, route, dispatch, ordered bytes out —
// independent of the transport (a TCP socket, or memory for the TestClient and fuzzers).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/connection_env.h"
#include "core/dispatcher.h"
#include "core/observer.h"
#include "core/http1_parser.h"
#include "core/protocol.h"
#include "core/request_routing.h"
#include "core/response_writer.h"
#include "core/router.h"
#include "core/transport.h"

namespace tiercel {

class Http1Connection;
struct TlsInfo;  // core/tls.h

class Http1Connection final : public Protocol, public Responder {
 public:
  Http1Connection(ConnectionEnv& env, Transport& transport, std::string peer_ip);
  Http1Connection(const Http1Connection&) = delete;
  Http1Connection& operator=(const Http1Connection&) = delete;

  // --- transport side ---
  /// Free space to read into (at least `min_free` bytes).
  std::pair<char*, size_t> read_space(size_t min_free = 16 * 1024);
  /// `n` bytes were written into read_space(): parse and answer what is complete, then send in one batch.
  void on_read(size_t n);
  /// on_read() for bytes the caller holds elsewhere: copied into read_space() and read.
  void feed(std::string_view bytes);
  /// on_read() for `n` bytes at `data`, a buffer the caller reuses for every connection (the loop's). When the
  /// connection holds no input they are parsed where they are, and only what stays unprocessed (part of a request,
  /// requests held back by backpressure) is copied into the connection's own buffer: an idle connection holds none.
  /// The bytes may be rewritten in place; nothing points into them after the call.
  void on_read_borrowed(char* data, size_t n);
  /// The connection keeps unprocessed input (so its next bytes belong after it, in read_space()).
  bool holds_input() const noexcept { return len_ != 0; }
  /// Size of the connection's own read buffer: 0 while it holds no input.
  size_t input_capacity() const noexcept { return borrowed_ ? 0 : cap_; }
  /// Frees the output buffer if a large answer grew it and nothing waits in it (the server's sweep calls this
  /// once a second, so a connection that goes idle keeps no such buffer for long).
  void shed_output() noexcept override {
    if (out_.empty()) clear_sent(out_);
  }
  /// The peer finished sending (or the transport failed): stop and cancel pending work.
  void on_eof() override;
  /// The transport is gone for good. Pending deferred work is cancelled.
  void on_transport_closed() override;
  /// Unsent bytes dropped: reading may resume.
  void on_drained() override;
  /// Loop time in ms at which on_timeout() should run; 0 for none.
  uint64_t deadline() const noexcept override { return deadline_ms_; }
  /// Called by the owner when deadline() has passed.
  void on_timeout() override;
  /// The server is shutting down. A connection with a request in progress closes after answering it (and the
  /// requests already received), that last answer saying `Connection: close`. One between requests reads on for a
  /// short grace (kDrainIdleGraceMs; a new connection kDrainFirstRequestMs): a request that arrives is answered
  /// with `Connection: close`, and a connection that stays silent closes at deadline().
  void drain() override;
  /// Draining, between requests, waiting out the grace (see drain()): input already in the transport should be
  /// read before on_timeout() closes the connection.
  bool drain_waiting() const noexcept override {
    return draining_ && !closing_ && !upgraded_ && state_ == State::kHead && len_ == pos_ && slots_.empty() &&
           out_.empty();
  }

  // --- Protocol: a socket transport reads into the loop's buffer, or after the part of a request held ---
  std::pair<char*, size_t> own_input_space() override {
    return holds_input() ? read_space() : std::pair<char*, size_t>(nullptr, 0);
  }
  void on_own_input(size_t n) override { on_read(n); }
  void on_input(char* data, size_t n) override { on_read_borrowed(data, n); }
  /// Closes at once between requests (a 408 for a request begun); a request being answered finishes first.
  void close_idle() override {
    if (deadline_ms_ != 0) on_timeout();
  }

  // --- Responder: the application's answers ---
  void respond(uint64_t seq, const ResponseHead& head, std::string_view body, const ResponseContext& ctx,
               uint64_t length = kBodySize) override;
  bool stream_begin(uint64_t seq, const ResponseHead& head, const ResponseContext& ctx, uint64_t length,
                    void* token) override;
  void stream_write(uint64_t seq, std::string_view data) override;
  ssize_t stream_send_file(uint64_t seq, int fd, uint64_t offset, size_t count) override;
  void stream_end(uint64_t seq, bool abort = false) override;
  void stream_end_with_trailers(uint64_t seq, std::string_view fields) override;
  bool stream_writable(uint64_t seq) override;
  size_t stream_budget(uint64_t seq) override;
  void flush_output() override;
  void defer(uint64_t seq, void* token) override;
  void retain() noexcept override { ++refs_; }
  void release() noexcept override;
  ConnectionEnv& env() noexcept override { return env_; }
  void set_body_sink(BodySink* sink) override;
  void drop_body_sink(BodySink* sink) noexcept override;
  void resume_body() override;
  Http1Connection* http1() noexcept override { return this; }

  // --- protocol switch (dispatcher side) ---
  /// Whether `seq` could switch protocols now: it is the current answer, with nothing pending before it.
  bool can_upgrade(uint64_t seq) const noexcept { return slots_.empty() && seq == next_write_ && !closing_; }
  /// Answers `seq` with `response` (a 101) and hands the connection to `protocol`, which from now on gets every
  /// byte (bytes already received after the request first). HTTP timeouts stop applying.
  void upgrade(uint64_t seq, std::string_view response, UpgradedProtocol* protocol);
  /// An upgraded connection's output, sent now (or with `later`, kept for the next flush_output(), so that many
  /// small frames cost one system call).
  void send_raw(std::string_view bytes, bool later = false);
  /// Whether an upgraded connection's unsent output is over the high watermark (on_drained follows).
  bool output_full() const noexcept;
  /// Closes an upgraded connection once its output is written.
  void close_upgraded();

  bool closed() const noexcept override { return transport_closed_; }
  const std::string& peer_ip() const noexcept { return peer_ip_; }

 private:
  enum class State : uint8_t { kHead, kBodyLength, kBodyChunked, kStreamLength, kStreamChunked, kClosing };
  struct Slot {
    uint64_t seq;
    std::string bytes;
    void* token;
    bool ready;
    bool close;
    bool streaming = false;       // bytes go out as they come while this is the current answer
    bool wants_writable = false;  // stream_writable() said no: call on_writable when it may
    int status = 0;               // a stream's status and bytes so far (for the observer)
    uint64_t streamed = 0;
    ResponseWriter::Framing framing = ResponseWriter::Framing::kNone;  // a stream's: how its body bytes go out
    bool last = false;            // a stream whose head says `Connection: close`
  };

  struct LogRecord {  // a request's part of its RequestRecord, kept until it is answered (observer only)
    uint64_t seq;
    RequestLog log;
  };

  /// The answer to `seq` is the connection's last: it must say `Connection: close`.
  bool closes_after(uint64_t seq) const noexcept {
    return (close_after_ && seq == close_seq_) || (streaming_body() && seq == body_seq_);
  }
  std::string& response_buffer(uint64_t seq);  // where the answer to `seq` is written
  // `ctx` for the answer to `seq` now: the connection's last answer says `Connection: close`.
  ResponseContext answer_context(uint64_t seq, ResponseContext ctx) const noexcept;
  // A writer of an HTTP/1.1 head into `out`, its status line and `head`'s fields written; its finish_*() is next.
  ResponseWriter head_writer(std::string& out, const ResponseHead& head);
  void send_body(uint64_t seq, std::string_view body);  // the last part of the answer to `seq`
  // Appends `a`, `b` and `c` to the stream `s` (to the output when it is the current answer).
  void stream_append(Slot& s, std::string_view a, std::string_view b = {}, std::string_view c = {});
  /// stream_end() and stream_end_with_trailers(): the last chunk (with `trailers`, when chunked), then the slot done.
  void end_stream(uint64_t seq, bool abort, std::string_view trailers);
  void observe(uint64_t seq, int status, uint64_t bytes);
  Slot* find_slot(uint64_t seq) noexcept;
  void notify_writable();
  void finish_response(uint64_t seq, bool close);
  void process();
  bool handle_head();                       // returns false to stop the loop
  void dispatch_current(std::string_view body, bool body_streamed = false);
  uint64_t stream_route_limit();              // the parsed head's route's stream_body_limit (0: not streamed)
  bool start_body_stream(uint64_t limit);     // handle_head() for a route that streams its body
  bool deliver_body();                        // hands buffered body bytes to the sink; true once it is complete
  void end_body_stream(int status, std::string_view message);  // 0: complete; else the error the sink gets
  void stop_body_stream();                    // the rest of the body is not read; close after its answer
  bool streaming_body() const noexcept {
    return state_ == State::kStreamLength || state_ == State::kStreamChunked;
  }
  void respond_error(int status, std::string_view message);
  void flush_ready();
  void send_output();
  void compact();
  void update_deadline();
  void begin_close();
  size_t in_flight() const noexcept { return slots_.size(); }

  ConnectionEnv& env_;
  Transport& transport_;
  std::string peer_ip_;

  void own_input(size_t capacity);  // the input moves into buf_, of `capacity` bytes
  void release_input() noexcept;    // frees buf_ when it holds nothing

  std::vector<char> buf_;  // the connection's own read buffer; allocated only while it holds input
  char* data_ = nullptr;   // the input: buf_'s bytes, or the caller's during on_read_borrowed(); [0, len_) holds
  size_t cap_ = 0;         // unprocessed bytes from pos_ (and the head at head_start_ whose body is being read)
  bool borrowed_ = false;  // data_ is the caller's buffer (on_read_borrowed() in progress)
  size_t len_ = 0;
  size_t pos_ = 0;
  size_t head_start_ = 0;  // where the head of the request whose body is being read starts
  bool head_moved_ = false;
  size_t head_scanned_ = 0;  // bytes from pos_ known to hold no CRLF CRLF
  size_t head_tried_ = 0;    // bytes from pos_ when parse_head last said incomplete (0: not tried)

  State state_ = State::kHead;
  http1::RequestHead head_;
  http1::ChunkedDecoder chunked_;
  std::string chunked_body_;
  std::vector<PathParam> params_;

  std::string out_;          // responses accumulated for the next send
  std::deque<Slot> slots_;   // responses waiting behind an unanswered earlier one
  std::deque<LogRecord> records_;  // requests not answered yet, while an observer is set
  uint64_t next_seq_ = 0;    // seq of the next request parsed
  uint64_t next_write_ = 0;  // seq whose response goes out next
  bool close_after_ = false; // close once responses up to close_seq_ are written
  uint64_t close_seq_ = 0;

  BodySink* body_sink_ = nullptr;  // where the streamed body of request body_seq_ goes
  uint64_t body_seq_ = 0;
  uint64_t body_left_ = 0;   // bytes still to come (Content-Length framing)
  uint64_t body_limit_ = 0;  // the route's largest body (chunked framing)
  bool body_paused_ = false; // the sink is full, or not set yet: reading waits

  bool paused_pipeline_ = false;
  bool paused_write_ = false;
  bool write_blocked_ = false;  // process() left requests unparsed because output was over the watermark
  uint64_t head_deadline_ms_ = 0;  // when the head being received must be complete; 0 while none is
  bool transport_closed_ = false;
  bool closing_ = false;
  bool draining_ = false;
  uint64_t drain_idle_deadline_ms_ = 0;  // draining: when a connection between requests closes if still silent
  UpgradedProtocol* upgraded_ = nullptr;
  bool notifying_ = false;
  bool in_process_ = false;
  uint64_t deadline_ms_ = 0;
  uint32_t refs_ = 1;
};

}  // namespace tiercel
