// HTTP/2: see http2.h.
#include "core/http2.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "core/http2_stream.h"
#include "core/field_syntax.h"
#include "core/tls.h"

namespace tiercel {

namespace {

constexpr size_t kFlushChunk = 64 * 1024;
constexpr uint32_t kMaxConcurrentStreams = 100;
constexpr int32_t kStreamWindow = 1 << 20;       // per stream: what a client may send ahead of the handler
constexpr int32_t kConnectionWindow = 16 << 20;  // for the whole connection
constexpr uint32_t kMaxEmptyFrames = 1000;       // empty DATA frames (without END_STREAM) a connection may send
constexpr uint32_t kMaxContinuations = 8;        // CONTINUATION frames in one header block
constexpr double kResetBurst = 1000;              // RST_STREAM frames a client may send at once (rapid reset) ...
constexpr double kResetsPerMs = 0.033;            // ... and then per millisecond (33 a second)

}  // namespace

// ---------------------------------------------------------------------------------------------
// nghttp2's callbacks

class Http2Callbacks {
 public:
  static Http2Connection& of(void* user) { return *static_cast<Http2Connection*>(user); }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    Http2Connection& c = of(user);
    c.streams_[frame->hd.stream_id] = new Http2Stream(c, frame->hd.stream_id);
    c.update_idle_deadline();
    return 0;
  }

  static int on_header(nghttp2_session* ng, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    Http2Stream* s = of(user).stream(frame->hd.stream_id);
    if (!s) return 0;
    if (!s->add_header(std::string_view(reinterpret_cast<const char*>(name), namelen),
                       std::string_view(reinterpret_cast<const char*>(value), valuelen))) {
      // Over max_header_bytes: the stream is refused, once; the rest of its block is decoded (HPACK state) and
      // ignored, and it is never dispatched.
      nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_ENHANCE_YOUR_CALM);
      of(user).close_stream(frame->hd.stream_id);
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session* ng, const nghttp2_frame* frame, void* user) {
    Http2Connection& c = of(user);
    if (frame->hd.type == NGHTTP2_DATA && frame->hd.length == 0 && !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        ++c.empty_frames_ > kMaxEmptyFrames) {
      // Empty DATA frames cost the server work and the client nothing (CVE-2019-9518): a flood ends the connection.
      nghttp2_session_terminate_session(ng, NGHTTP2_ENHANCE_YOUR_CALM);
      return 0;
    }
    Http2Stream* s = c.stream(frame->hd.stream_id);
    if (!s) return 0;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      s->on_headers_end(end);
    } else if (end) {
      s->on_body_end();  // the last DATA frame, or trailers
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len, void* user) {
    Http2Connection& c = of(user);
    if (Http2Stream* s = c.stream(stream_id)) {
      s->on_body(std::string_view(reinterpret_cast<const char*>(data), len));
    } else {
      c.consume(stream_id, len);  // a stream we refused: its bytes must not shrink the connection's window
    }
    return 0;
  }

  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
    Http2Connection& c = of(user);
    if (hd->type == NGHTTP2_CONTINUATION) {
      // A header block split into many CONTINUATION frames costs HPACK work without end (CVE-2024-28182).
      if (++c.continuations_ > kMaxContinuations) return NGHTTP2_ERR_CALLBACK_FAILURE;
    } else {
      c.continuations_ = 0;
    }
    if (hd->type == NGHTTP2_RST_STREAM && !c.take_reset_token()) {
      // Streams opened and cancelled at once, in bulk (rapid reset, CVE-2023-44487): ENHANCE_YOUR_CALM, as for the
      // other floods (nghttp2's own limit, a backstop at twice the rate, would say INTERNAL_ERROR).
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t, void* user) {
    of(user).close_stream(stream_id);
    return 0;
  }

  static int on_frame_send(nghttp2_session* ng, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type == NGHTTP2_GOAWAY) of(user).goaway_sent_ = true;
    bool response = frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA;
    if (response && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        nghttp2_session_get_stream_remote_close(ng, frame->hd.stream_id) == 0) {
      // The answer is complete and the client is still sending (an early 413 or 408, a handler that did not read
      // the body): RST_STREAM(NO_ERROR) tells it to stop (RFC 9113 §8.1), and the stream does not stay open.
      nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
    return 0;
  }
};

// ---------------------------------------------------------------------------------------------
// Http2Connection

Http2Connection::Http2Connection(ConnectionEnv& env, Transport& transport, std::string peer_ip)
    : env_(env), transport_(transport), peer_ip_(std::move(peer_ip)) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, Http2Callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, Http2Callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, Http2Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, Http2Callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, Http2Callbacks::on_stream_close);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cb, Http2Callbacks::on_begin_frame);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, Http2Callbacks::on_frame_send);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);      // windows follow what the handlers take (backpressure)
  nghttp2_option_set_max_outbound_ack(opt, 1000);         // SETTINGS and PING floods
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_stream_reset_rate_limit(opt, 2 * static_cast<uint64_t>(kResetBurst), 66);  // backstop
  nghttp2_option_set_max_continuations(opt, kMaxContinuations);  // CONTINUATION floods (CVE-2024-28182)
  nghttp2_option_set_no_closed_streams(opt, 1);           // no RFC 7540 priority tree to keep closed streams for
  nghttp2_session_server_new2(&ng_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, env_.config.limits.max_header_bytes},
      // RFC 9218: the deprecated RFC 7540 priority tree is not kept (streams are served in arrival order, as the
      // handlers answer); cheaper per stream, and a tree a client could make expensive is gone.
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, settings, sizeof settings / sizeof settings[0]);
  nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  update_idle_deadline();
}

Http2Connection::~Http2Connection() {
  on_transport_closed();  // each stream's work is cancelled
  reap();
  nghttp2_session_del(ng_);
}

/// Marks a call from the transport (or the loop): the streams closed during it are released when the outermost
/// returns, when no call of theirs is running.
class Http2Connection::Entry {
 public:
  explicit Entry(Http2Connection& c) : c_(c) { ++c_.entry_depth_; }
  ~Entry() {
    if (--c_.entry_depth_ == 0) c_.reap();
  }
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;

 private:
  Http2Connection& c_;
};

Http2Stream* Http2Connection::stream(int32_t id) noexcept {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second;
}

void Http2Connection::close_stream(int32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Http2Stream* s = it->second;
  streams_.erase(it);
  drained_.erase(std::remove(drained_.begin(), drained_.end(), s), drained_.end());
  // The stream may be closing from inside a call of its own (an answer's last bytes flushed from a handler's
  // response): its work is cancelled now, and the connection's reference dropped later, never under that call.
  s->detach();
  closed_streams_.push_back(s);
  if (entry_depth_ == 0) transport_.wake_later();
  update_idle_deadline();
}

void Http2Connection::reap() {
  while (!closed_streams_.empty()) {
    for (Http2Stream* s : std::exchange(closed_streams_, {})) s->release();  // a release may close others: loop
  }
}

void Http2Connection::on_later() {
  Entry entry(*this);
  flush();
}

void Http2Connection::on_read(std::string_view data) {
  if (closed_ || failed_) return;  // after a connection error nothing more is read
  Entry entry(*this);
  ++callback_depth_;
  ssize_t r = nghttp2_session_mem_recv(ng_, reinterpret_cast<const uint8_t*>(data.data()), data.size());
  --callback_depth_;
  if (r < 0 && !failed_) {
    // A connection error (a bad preface, a flood, a protocol violation).
    fail(r == NGHTTP2_ERR_FLOODED || r == NGHTTP2_ERR_CALLBACK_FAILURE ? NGHTTP2_ENHANCE_YOUR_CALM
                                                                       : NGHTTP2_PROTOCOL_ERROR);
  }
  after_callbacks();
  flush();
}

bool Http2Connection::take_reset_token() {
  if (reset_refill_ms_ == 0) reset_refill_ms_ = env_.now_ms;
  double refill = static_cast<double>(env_.now_ms - reset_refill_ms_) * kResetsPerMs;
  reset_tokens_ = std::min(kResetBurst, reset_tokens_ + refill);
  reset_refill_ms_ = env_.now_ms;
  if (reset_tokens_ < 1) return false;
  reset_tokens_ -= 1;
  return true;
}

void Http2Connection::fail(uint32_t code) {
  failed_ = true;
  nghttp2_session_terminate_session(ng_, code);  // GOAWAY, then the connection closes once it is out
}

void Http2Connection::after_callbacks() {
  for (auto& [id, n] : std::exchange(consumed_, {})) nghttp2_session_consume(ng_, id, n);
}

bool Http2Connection::take_output() {
  const uint8_t* data = nullptr;
  ++callback_depth_;
  ssize_t n = nghttp2_session_mem_send(ng_, &data);
  --callback_depth_;
  if (n <= 0) return false;
  out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  return true;
}

void Http2Connection::flush() {
  if (callback_depth_ > 0) {
    want_flush_ = true;
    return;
  }
  if (closed_) return;
  const size_t watermark = env_.config.write_high_watermark;
  do {
    want_flush_ = false;
    after_callbacks();
    for (;;) {
      bool more = true;
      while (out_.size() < kFlushChunk && transport_.unsent_bytes() + out_.size() <= watermark) {
        if (!take_output()) {
          more = false;
          break;
        }
      }
      if (out_.empty()) break;
      transport_.send(out_);
      // Stopped at the watermark and the transport took everything at once: no on_drained() will come, so go on.
      if (!more || transport_.unsent_bytes() > watermark) break;
    }
    if (held() <= watermark) {
      // Under the shared watermark again: every stream whose session was told the connection was full goes on.
      for (auto& [id, s] : streams_) {
        if (s->told_full() && !s->gone()) {
          s->clear_told_full();
          drained_.push_back(s);
        }
      }
    }
    for (Http2Stream* s : std::exchange(drained_, {})) s->on_drained();
  } while (want_flush_ && !closed_);
  if (!closed_ && !nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_)) {
    closed_ = true;  // GOAWAY sent and every stream done (or a connection error)
    transport_.close();
  }
}

void Http2Connection::on_drained() {
  Entry entry(*this);
  flush();
}

void Http2Connection::on_transport_closed() {
  closed_ = true;
  for (auto& [id, s] : std::exchange(streams_, {})) {
    s->detach();
    closed_streams_.push_back(s);  // released later, outside any call of theirs
  }
  drained_.clear();
}

void Http2Connection::update_idle_deadline() {
  idle_deadline_ms_ = streams_.empty() ? env_.now_ms + env_.config.keepalive_timeout_ms : 0;
}

uint64_t Http2Connection::stream_deadline(const Http2Stream& s) const noexcept {
  if (s.starved()) return 0;
  if (!s.headers_done()) return s.opened_ms() + env_.config.header_timeout_ms;  // its header block is not complete
  uint64_t d = s.told_full() ? 0 : s.deadline();
  if (s.buffered() != 0) {
    // Bytes the client grants no window for: after write_timeout the stream is reset, as an HTTP/1.1 connection
    // that takes no output is closed.
    uint64_t w = s.progress_ms() + env_.config.write_timeout_ms;
    if (d == 0 || w < d) d = w;
  }
  return d;
}

void Http2Connection::buffer(size_t n) {
  if (buffered_ == 0 && n != 0) data_progress_ms_ = env_.now_ms;
  buffered_ += n;
}

void Http2Connection::unbuffer(size_t n) {
  buffered_ -= n;
  if (n) data_progress_ms_ = env_.now_ms;
}

uint64_t Http2Connection::deadline() const noexcept {
  if (closed_ || failed_) return 0;
  uint64_t d = idle_deadline_ms_;
  if (buffered_ != 0) {
    uint64_t w = data_progress_ms_ + env_.config.write_timeout_ms;
    if (d == 0 || w < d) d = w;
  }
  for (const auto& [id, s] : streams_) {
    uint64_t sd = stream_deadline(*s);
    if (sd != 0 && (d == 0 || sd < d)) d = sd;
  }
  return d;
}

void Http2Connection::on_timeout() {
  if (closed_ || failed_) return;
  Entry entry(*this);
  if (streams_.empty() && idle_deadline_ms_ && env_.now_ms >= idle_deadline_ms_) {
    fail(NGHTTP2_NO_ERROR);  // idle
    flush();
    return;
  }
  if (buffered_ != 0 && env_.now_ms >= data_progress_ms_ + env_.config.write_timeout_ms) {
    // No stream got window for write_timeout: the client stopped reading, the connection ends (GOAWAY), as an
    // HTTP/1.1 connection that takes no output is closed.
    fail(NGHTTP2_ENHANCE_YOUR_CALM);
    flush();
    return;
  }
  std::vector<Http2Stream*> due;
  for (const auto& [id, s] : streams_) {
    uint64_t sd = stream_deadline(*s);
    if (sd == 0 || sd > env_.now_ms) continue;
    if (s->headers_done() && s->buffered() != 0 && env_.now_ms >= s->progress_ms() + env_.config.write_timeout_ms) {
      s->starve();  // others progress, this one gets no window
      continue;
    }
    if (!s->headers_done()) {
      // A header block begun and not finished within header_timeout: until it ends the client can send nothing
      // else on this connection (not even a WINDOW_UPDATE), so it only holds it open, as a request head that never
      // ends over HTTP/1.1 (slowloris). The connection ends, as nginx's does on its header timeout.
      fail(NGHTTP2_ENHANCE_YOUR_CALM);
      flush();
      return;
    }
    due.push_back(s);
  }
  for (Http2Stream* s : due) {
    if (!s->gone()) s->on_timeout();
  }
  flush();
}

void Http2Connection::drain() {
  if (draining_ || closed_) return;
  Entry entry(*this);
  draining_ = true;
  // GOAWAY with the last stream already started: those finish, no new ones are accepted.
  nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  // Serialised now, even over the write watermark: nghttp2 takes no new stream once it is out, and a later GOAWAY
  // (a connection error) cannot name a later stream than this one (RFC 9113 §6.8). Control frames come before the
  // DATA still queued, so little more than the GOAWAY leaves here.
  while (!goaway_sent_) {
    if (!take_output()) break;
  }
  flush();
}

}  // namespace tiercel
