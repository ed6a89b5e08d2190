// One HTTP/2 stream bridged onto an Http1Connection (see http2.h): the request goes in as HTTP/1.1 bytes, the answer
// comes back through the Transport interface and leaves as HEADERS and DATA. Private to http2.cpp.
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/http1_parser.h"
#include "core/http2.h"
#include "core/field_syntax.h"

namespace tiercel {

namespace http2_detail {

/// Response header fields that belong to HTTP/1.1 connections and must not appear in HTTP/2 (RFC 9113 §8.2.2).
inline bool connection_specific(std::string_view name) {
  for (std::string_view n : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}) {
    if (ascii_iequal(name, n)) return true;
  }
  return false;
}

}  // namespace http2_detail

/// One stream: its request, as HTTP/1.1 bytes, goes to an Http1Connection of its own, whose answer comes back through
/// this transport and leaves as HEADERS and DATA.
class Http2Stream final : public Transport {
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
    session_ = new Http1Connection(conn_.env(), *this, conn_.peer_ip());
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
    Http1Connection* s = std::exchange(session_, nullptr);
    s->on_transport_closed();
    s->release();
  }

  bool gone() const noexcept { return gone_; }
  /// When the request's header block began (a block never finished holds the whole connection).
  uint64_t opened_ms() const noexcept { return opened_ms_; }

  // --- Transport: the answer, as HTTP/1.1 bytes ---
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

  /// The connection's streams share its watermark.
  size_t write_sharers() const override { return conn_.open_streams(); }

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

  Http1Connection* session() const noexcept { return session_; }

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
      if (http2_detail::connection_specific(name)) continue;
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
  Http1Connection* session_ = nullptr;
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

}  // namespace tiercel
