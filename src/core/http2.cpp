// HTTP/2: see http2.h.
#include "core/http2.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "core/http1_parser.h"
#include "core/text.h"
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

/// Response header fields that belong to HTTP/1.1 connections and must not appear in HTTP/2 (RFC 9113 §8.2.2).
bool connection_specific(std::string_view name) {
  for (std::string_view n : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}) {
    if (ascii_iequal(name, n)) return true;
  }
  return false;
}

}  // namespace

/// One stream: its request, as HTTP/1.1 bytes, goes to an Http1Session of its own, whose answer comes back through
/// this transport and leaves as HEADERS and DATA.
class Http2Stream final : public SessionTransport {
 public:
  Http2Stream(Http2Connection& conn, int32_t id) : conn_(conn), id_(id), opened_ms_(conn.env().now_ms) {}
  ~Http2Stream() override { end_session(); }

  // --- the request ---
  bool add_header(std::string_view name, std::string_view value) {
    header_bytes_ += name.size() + value.size() + 32;  // RFC 9113 §6.5.2's accounting
    if (header_bytes_ > conn_.env().config.limits.max_header_bytes) return false;
    if (name == ":method") {
      method_ = value;
    } else if (name == ":path") {
      path_ = value;
    } else if (name == ":authority") {
      authority_ = value;
    } else if (name == ":scheme") {
      // the connection's own scheme counts (a proxy's X-Forwarded-Proto aside)
    } else if (name == "cookie") {
      if (!cookie_.empty()) cookie_.append("; ");  // split cookie fields are joined (RFC 9113 §8.2.3)
      cookie_.append(value);
    } else {
      if (name == "content-length") has_length_ = true;
      if (name == "host") has_host_ = true;
      head_.append(name).append(": ").append(value).append("\r\n");
    }
    return true;
  }

  /// The request's header block is complete: hand it to a session of its own.
  void dispatch(bool end_stream) {
    session_ = new Http1Session(conn_.env(), *this, conn_.peer_ip());
    std::string request;
    request.reserve(method_.size() + path_.size() + authority_.size() + head_.size() + cookie_.size() + 80);
    request.append(method_).append(" ").append(path_).append(" HTTP/1.1\r\n");
    if (!has_host_ && !authority_.empty()) request.append("Host: ").append(authority_).append("\r\n");
    request.append(head_);
    if (!cookie_.empty()) request.append("Cookie: ").append(cookie_).append("\r\n");
    chunked_request_ = !end_stream && !has_length_;
    if (chunked_request_) request.append("Transfer-Encoding: chunked\r\n");
    request.append("Connection: close\r\n\r\n");  // one request per session: its answer ends with a close()
    head_request_ = method_ == "HEAD";
    feed(request);
  }

  void on_body(std::string_view data) {
    if (data.empty()) return;
    if (!session_) {
      conn_.consume(id_, data.size());  // nobody takes it: the connection's window must not shrink for it
      return;
    }
    if (chunked_request_) {
      char size[24];
      int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
      feed(std::string_view(size, static_cast<size_t>(n)));
      feed(data);
      feed("\r\n");
    } else {
      feed(data);
    }
    // The window is given back only for bytes the session takes; while it has paused reading they wait.
    if (paused_) {
      held_ += data.size();
    } else {
      conn_.consume(id_, data.size());
    }
  }

  void end_body() {
    if (session_ && chunked_request_) feed("0\r\n\r\n");
    chunked_request_ = false;
  }

  /// nghttp2 closed the stream: nothing more goes to nghttp2 for it, and the window its session held back goes
  /// back to the connection. Its session is stopped later, by end_session(), outside any call of the session's.
  void detach() {
    gone_ = true;
    conn_.unbuffer(buffered());
    body_.clear();
    body_.shrink_to_fit();
    body_off_ = 0;
    if (held_) conn_.consume(id_, std::exchange(held_, 0));  // counted on the connection even for a closed stream
  }

  /// The stream is closed (answered, reset by the client, or the connection is gone): its session stops.
  void end_session() {
    gone_ = true;
    if (!session_) return;
    Http1Session* s = std::exchange(session_, nullptr);
    s->on_transport_closed();
    s->release();
  }

  bool gone() const noexcept { return gone_; }
  /// When the request's header block began (a block never finished holds the whole connection).
  uint64_t opened_ms() const noexcept { return opened_ms_; }

  // --- SessionTransport: the answer, as HTTP/1.1 bytes ---
  void send(std::string& out) override {
    if (!gone_) take_response(out);
    out.clear();
  }

  void close() override {
    // The session closes after its one answer: the stream ends once the body is out.
    if (gone_ || response_done_) return;
    response_done_ = true;
    bool cut = !body_ignored_ && ((chunked_response_ && !dechunk_complete_) || (length_ >= 0 && body_seen_ < length_));
    if (!submitted_ || cut) {
      // The answer was cut short (a failing stream): the client must not take it for complete.
      nghttp2_submit_rst_stream(conn_.ng(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
    } else {
      resume_data();
    }
    conn_.flush();
  }

  void pause_reading() override { paused_ = true; }

  void resume_reading() override {
    paused_ = false;
    if (held_ && !gone_) {
      conn_.consume(id_, held_);
      held_ = 0;
      conn_.flush();
    }
  }

  /// What the whole connection holds unsent (its write watermark is shared: every stream's producer waits once it
  /// is reached, and a request waits before its handler runs).
  size_t unsent_bytes() const override {
    size_t held = conn_.held();
    if (held > conn_.env().config.write_high_watermark) told_full_ = true;  // on_drained() follows
    return held;
  }

  /// This stream's answer bytes not yet taken by nghttp2 (its window is shut, or the connection's).
  size_t buffered() const noexcept { return body_.size() - body_off_; }
  /// Since when this stream has had bytes to send and sent none (meaningful while buffered() > 0).
  uint64_t progress_ms() const noexcept { return progress_ms_; }
  /// The session was told the connection is full, and waits for on_drained() (a request it has not started yet
  /// waits for its turn, not for its client: its own deadline does not run meanwhile).
  bool told_full() const noexcept { return told_full_; }
  void clear_told_full() noexcept { told_full_ = false; }
  /// Reset for no window within write_timeout: its deadline is spent.
  bool starved() const noexcept { return starved_; }
  void starve() {
    starved_ = true;
    nghttp2_submit_rst_stream(conn_.ng(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
  }

  std::shared_ptr<const TlsInfo> tls() const override { return conn_.transport().tls(); }

  Http1Session* session() const noexcept { return session_; }

  /// nghttp2 asks for DATA: what the body has so far.
  ssize_t read_body(uint8_t* buf, size_t length, uint32_t* flags) {
    size_t avail = body_.size() - body_off_;
    size_t n = std::min(avail, length);
    if (n) {
      std::memcpy(buf, body_.data() + body_off_, n);
      body_off_ += n;
      progress_ms_ = conn_.env().now_ms;
      conn_.unbuffer(n);
    }
    if (body_off_ == body_.size()) {
      body_.clear();
      body_off_ = 0;
    }
    if (avail == n && response_done_) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (n == 0) {
      deferred_ = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    return static_cast<ssize_t>(n);
  }

 private:
  void feed(std::string_view bytes) {
    if (session_) session_->feed(bytes);
  }

  void take_response(std::string& out) {
    if (!submitted_ && head_buf_.empty()) {
      // The usual case, the whole head in one piece: the body bytes after it are taken over without a copy (a
      // large buffered answer is held once, as over HTTP/1.1, and sent as the window allows).
      size_t end = out.find("\r\n\r\n");
      int status = end == std::string::npos ? 0 : parse_status(out);
      if (status >= 200) {
        submit_head(std::string_view(out).substr(0, end + 2), status);
        out.erase(0, end + 4);
        take_body(out);
        return;
      }
    }
    if (!submitted_) {
      head_buf_.append(out);
      for (;;) {
        size_t end = head_buf_.find("\r\n\r\n");
        if (end == std::string::npos) return;
        int status = parse_status(head_buf_);
        if (status >= 100 && status < 200) {  // 100 Continue: HTTP/2 clients do not wait for it
          head_buf_.erase(0, end + 4);
          continue;
        }
        std::string rest = head_buf_.substr(end + 4);
        submit_head(std::string_view(head_buf_).substr(0, end + 2), status);
        std::string().swap(head_buf_);
        if (!rest.empty()) take_body(rest);
        return;
      }
    }
    take_body(out);
  }

  static int parse_status(std::string_view head) {
    if (head.size() < 12) return 0;
    return (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
  }

  void submit_head(std::string_view head, int status) {
    submitted_ = true;
    std::vector<std::pair<std::string, std::string>> fields;
    fields.emplace_back(":status", std::to_string(status));
    size_t pos = head.find("\r\n") + 2;
    while (pos < head.size()) {
      size_t eol = head.find("\r\n", pos);
      std::string_view line = head.substr(pos, eol - pos);
      pos = eol + 2;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view name = line.substr(0, colon), value = trim_ows(line.substr(colon + 1));
      if (ascii_iequal(name, "transfer-encoding")) chunked_response_ = true;
      if (ascii_iequal(name, "content-length")) {
        length_ = 0;
        for (char c : value) length_ = length_ * 10 + (c - '0');
      }
      if (connection_specific(name)) continue;
      fields.emplace_back(ascii_lower(name), std::string(value));
    }
    std::vector<nghttp2_nv> nv;
    nv.reserve(fields.size());
    for (auto& [n, v] : fields) {
      nv.push_back({reinterpret_cast<uint8_t*>(n.data()), reinterpret_cast<uint8_t*>(v.data()), n.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE});
    }
    bool bodyless = head_request_ || status == 204 || status == 304 || (length_ == 0 && !chunked_response_);
    if (bodyless) {
      nghttp2_submit_response(conn_.ng(), id_, nv.data(), nv.size(), nullptr);
      body_ignored_ = true;
    } else {
      nghttp2_data_provider provider;
      provider.source.ptr = this;
      provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                                  nghttp2_data_source* source, void*) -> ssize_t {
        return static_cast<Http2Stream*>(source->ptr)->read_body(buf, length, flags);
      };
      nghttp2_submit_response(conn_.ng(), id_, nv.data(), nv.size(), &provider);
    }
    conn_.flush();
  }

  /// Takes the answer's body bytes in `data` (leaving it empty, or holding what is not needed).
  void take_body(std::string& data) {
    if (data.empty() || body_ignored_) return;
    size_t before = buffered();
    if (chunked_response_) {
      std::string plain;
      size_t consumed = 0;
      http1::ParseError err = http1::ParseError::kNone;
      http1::Limits limits;
      limits.max_body = UINT64_MAX;
      auto st = dechunk_.feed(data, limits, plain, consumed, err);  // takes it all, short of the end
      if (st == http1::ParseStatus::kError) return;
      if (st == http1::ParseStatus::kComplete) dechunk_complete_ = true;
      body_.append(plain);
      body_seen_ += static_cast<int64_t>(plain.size());
    } else {
      body_seen_ += static_cast<int64_t>(data.size());
      if (before == 0) {
        body_.swap(data);  // nothing waits before them: no copy
        body_off_ = 0;
      } else {
        body_.append(data);
      }
    }
    if (before == 0 && buffered() != 0) progress_ms_ = conn_.env().now_ms;  // the wait for window starts now
    conn_.buffer(buffered() - before);
    resume_data();
    conn_.flush();
  }

  /// nghttp2 was told there was no DATA yet (read_body): there is now, or the end.
  void resume_data() {
    if (!deferred_) return;
    deferred_ = false;
    nghttp2_session_resume_data(conn_.ng(), id_);
  }

  Http2Connection& conn_;
  int32_t id_;
  uint64_t opened_ms_;
  Http1Session* session_ = nullptr;
  std::string method_, path_, authority_, head_, cookie_;
  size_t header_bytes_ = 0;
  bool has_length_ = false, has_host_ = false, chunked_request_ = false, head_request_ = false;
  bool paused_ = false;
  size_t held_ = 0;
  // the answer
  std::string head_buf_;
  std::string body_;
  size_t body_off_ = 0;
  int64_t length_ = -1, body_seen_ = 0;
  bool submitted_ = false, chunked_response_ = false, body_ignored_ = false, response_done_ = false;
  bool deferred_ = false, gone_ = false, starved_ = false;
  mutable bool told_full_ = false;
  uint64_t progress_ms_ = 0;
  http1::ChunkedDecoder dechunk_;
  bool dechunk_complete_ = false;
};

// ---------------------------------------------------------------------------------------------
// nghttp2's callbacks

class Http2Callbacks {
 public:
  static Http2Connection& of(void* user) { return *static_cast<Http2Connection*>(user); }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    Http2Connection& c = of(user);
    c.streams_[frame->hd.stream_id] = std::make_unique<Http2Stream>(c, frame->hd.stream_id);
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
      s->dispatch(end);
    } else if (end) {
      s->end_body();  // the last DATA frame, or trailers
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

Http2Connection::Http2Connection(SessionEnv& env, SessionTransport& transport, std::string peer_ip)
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
  streams_.clear();  // each stream's session is told the connection is gone
  closed_streams_.clear();
  nghttp2_session_del(ng_);
}

/// Marks a call from the transport (or the loop): the streams closed during it are freed when the outermost returns,
/// when no call of theirs, or of their sessions, is running.
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
  return it == streams_.end() ? nullptr : it->second.get();
}

void Http2Connection::close_stream(int32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  std::unique_ptr<Http2Stream> s = std::move(it->second);
  streams_.erase(it);
  drained_.erase(std::remove(drained_.begin(), drained_.end(), s.get()), drained_.end());
  // The stream may be closing from inside its own session (an answer's last bytes flushed from a handler's
  // response): the session is stopped and freed later, never under a call of its own.
  s->detach();
  closed_streams_.push_back(std::move(s));
  if (entry_depth_ == 0) transport_.wake_later();
  update_idle_deadline();
}

void Http2Connection::reap() {
  while (!closed_streams_.empty()) {
    auto closing = std::exchange(closed_streams_, {});
    closing.clear();  // each stream's session is told its transport is gone (it may close others: loop)
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
          drained_.push_back(s.get());
        }
      }
    }
    for (Http2Stream* s : std::exchange(drained_, {})) {
      Http1Session* session = s->gone() ? nullptr : s->session();
      if (session) session->on_drained();
    }
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
  streams_.clear();
  closed_streams_.clear();
}

void Http2Connection::update_idle_deadline() {
  idle_deadline_ms_ = streams_.empty() ? env_.now_ms + env_.config.keepalive_timeout_ms : 0;
}

uint64_t Http2Connection::stream_deadline(const Http2Stream& s) const noexcept {
  if (s.starved()) return 0;
  Http1Session* session = s.session();
  if (!session) return s.opened_ms() + env_.config.header_timeout_ms;  // its header block is not complete yet
  uint64_t d = s.told_full() ? 0 : session->deadline();
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
  std::vector<Http1Session*> due;
  for (const auto& [id, s] : streams_) {
    uint64_t sd = stream_deadline(*s);
    if (sd == 0 || sd > env_.now_ms) continue;
    if (s->session() && s->buffered() != 0 && env_.now_ms >= s->progress_ms() + env_.config.write_timeout_ms) {
      s->starve();  // others progress, this one gets no window
      continue;
    }
    if (!s->session()) {
      // A header block begun and not finished within header_timeout: until it ends the client can send nothing
      // else on this connection (not even a WINDOW_UPDATE), so it only holds it open, as a request head that never
      // ends over HTTP/1.1 (slowloris). The connection ends, as nginx's does on its header timeout.
      fail(NGHTTP2_ENHANCE_YOUR_CALM);
      flush();
      return;
    }
    due.push_back(s->session());
  }
  for (Http1Session* session : due) session->on_timeout();
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
