// Test support: a real HTTP/2 client (an nghttp2 client session, from the libnghttp2 the core links) whose bytes a
// test carries to and from the server by hand. It records what it decodes, frame by frame and stream by stream, so
// that tests assert on what a client sees, never on how the server serialised it.
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tiercel::testing {

/// One frame the client received (after nghttp2 decoded and accepted it).
struct H2Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  int32_t stream_id = 0;
  uint32_t error_code = 0;      ///< GOAWAY, RST_STREAM
  int32_t last_stream_id = 0;   ///< GOAWAY
  std::string opaque;           ///< PING
};

/// What the client saw of one of its streams.
struct H2Response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> fields;  ///< the response's fields, :status excluded
  std::vector<std::pair<std::string, std::string>> trailers;  ///< the fields of a HEADERS frame after the body
  std::string body;
  bool closed = false;
  uint32_t close_error = 0;  ///< the stream's error code when it closed (NO_ERROR for a complete answer)

  /// The value of the field `name` (lower case); empty when absent.
  std::string field(std::string_view name) const {
    for (const auto& [n, v] : fields) {
      if (n == name) return v;
    }
    return {};
  }
  bool has(std::string_view name) const {
    return std::any_of(fields.begin(), fields.end(), [&](const auto& f) { return f.first == name; });
  }
};

class H2Client {
 public:
  /// `settings`: the client's SETTINGS; `auto_window`: whether nghttp2 gives window back as the client reads.
  explicit H2Client(std::vector<nghttp2_settings_entry> settings = {}, bool auto_window = true) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    if (!auto_window) nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_session_client_new2(&ng_, cb, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  }
  ~H2Client() { nghttp2_session_del(ng_); }
  H2Client(const H2Client&) = delete;
  H2Client& operator=(const H2Client&) = delete;

  nghttp2_session* ng() noexcept { return ng_; }

  /// Opens a stream: `method` on `path`, with `body` (none when empty) sent in DATA frames of at most `piece` bytes;
  /// with `hold_end` the stream stays open after them (a body that stops arriving).
  int32_t request(std::string_view method, std::string_view path, std::string body = {}, size_t piece = 16384,
                  bool hold_end = false) {
    std::string m(method), p(path);
    nghttp2_nv nv[] = {field(":method", m), field(":scheme", "http"), field(":authority", "t.test"),
                       field(":path", p)};
    if (body.empty()) return nghttp2_submit_request(ng_, nullptr, nv, 4, nullptr, nullptr);
    uploads_.push_back(std::make_unique<Upload>(Upload{std::move(body), 0, piece, hold_end}));
    nghttp2_data_provider provider;
    provider.source.ptr = uploads_.back().get();
    provider.read_callback = read_upload;
    return nghttp2_submit_request(ng_, nullptr, nv, 4, &provider, nullptr);
  }

  /// The bytes the client has to send now.
  std::string take_output() {
    std::string out;
    for (;;) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(ng_, &data);
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    return out;
  }
  /// Bytes from the server; false once the client found them malformed (its session is then ended).
  bool receive(std::string_view bytes) {
    if (bytes.empty()) return recv_error_ == 0;
    ssize_t n = nghttp2_session_mem_recv(ng_, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    if (n < 0) recv_error_ = static_cast<int>(n);
    return recv_error_ == 0;
  }
  int recv_error() const noexcept { return recv_error_; }
  /// How many frames of `type` the client has sent.
  int sent_count(uint8_t type) const noexcept { return type < 16 ? sent_[type] : 0; }

  const std::vector<H2Frame>& frames() const noexcept { return frames_; }
  /// The frames of `type` received, in order.
  std::vector<H2Frame> frames_of(uint8_t type) const {
    std::vector<H2Frame> out;
    for (const auto& f : frames_) {
      if (f.type == type) out.push_back(f);
    }
    return out;
  }
  H2Response& response(int32_t stream_id) { return responses_[stream_id]; }
  bool has_response(int32_t stream_id) const { return responses_.count(stream_id) != 0; }

 private:
  struct Upload {
    std::string data;
    size_t pos;
    size_t piece;
    bool hold_end;
  };

  static nghttp2_nv field(const char* name, const std::string& value) {
    return {reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
            reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), std::strlen(name), value.size(),
            NGHTTP2_NV_FLAG_NONE};
  }
  static nghttp2_nv field(const char* name, const char* value) {
    return {reinterpret_cast<uint8_t*>(const_cast<char*>(name)), reinterpret_cast<uint8_t*>(const_cast<char*>(value)),
            std::strlen(name), std::strlen(value), NGHTTP2_NV_FLAG_NONE};
  }
  static H2Client& of(void* user) { return *static_cast<H2Client*>(user); }

  static ssize_t read_upload(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                             nghttp2_data_source* source, void*) {
    auto* u = static_cast<Upload*>(source->ptr);
    size_t n = std::min({length, u->piece, u->data.size() - u->pos});
    if (n == 0 && u->hold_end) return NGHTTP2_ERR_DEFERRED;
    std::memcpy(buf, u->data.data() + u->pos, n);
    u->pos += n;
    if (u->pos == u->data.size() && !u->hold_end) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    H2Frame f;
    f.type = frame->hd.type;
    f.flags = frame->hd.flags;
    f.stream_id = frame->hd.stream_id;
    if (f.type == NGHTTP2_GOAWAY) {
      f.error_code = frame->goaway.error_code;
      f.last_stream_id = frame->goaway.last_stream_id;
    } else if (f.type == NGHTTP2_RST_STREAM) {
      f.error_code = frame->rst_stream.error_code;
    } else if (f.type == NGHTTP2_PING) {
      f.opaque.assign(reinterpret_cast<const char*>(frame->ping.opaque_data), 8);
    }
    of(user).frames_.push_back(std::move(f));
    return 0;
  }
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type < sizeof sent_ / sizeof sent_[0]) ++of(user).sent_[frame->hd.type];
    return 0;
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    H2Response& r = of(user).responses_[frame->hd.stream_id];
    std::string n(reinterpret_cast<const char*>(name), namelen), v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      r.status = std::stoi(v);
    } else if (frame->headers.cat == NGHTTP2_HCAT_HEADERS && r.status != 0) {  // a second block: the trailers
      r.trailers.emplace_back(std::move(n), std::move(v));
    } else {
      r.fields.emplace_back(std::move(n), std::move(v));
    }
    return 0;
  }
  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                           void* user) {
    of(user).responses_[stream_id].body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
    H2Response& r = of(user).responses_[stream_id];
    r.closed = true;
    r.close_error = error_code;
    return 0;
  }

  nghttp2_session* ng_ = nullptr;
  std::vector<std::unique_ptr<Upload>> uploads_;
  std::vector<H2Frame> frames_;
  std::map<int32_t, H2Response> responses_;
  int sent_[16] = {};
  int recv_error_ = 0;
};

}  // namespace tiercel::testing
