// One HTTP/2 stream: see http2_stream.h.
#include "core/http2_stream.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>
#include <vector>

#include "core/field_syntax.h"
#include "core/tls.h"

namespace tiercel {

namespace {

/// Response fields that belong to HTTP/1.1 connections and must not appear in HTTP/2 (RFC 9113 §8.2.2).
bool connection_specific(std::string_view name) {
  for (std::string_view n : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}) {
    if (ascii_iequal(name, n)) return true;
  }
  return false;
}

/// Calls f(name, value) for each "Name: value\r\n" line of `fields` but the connection-specific ones (RFC 9113
/// 8.2.2), the value without its surrounding whitespace.
template <class F>
void each_field(std::string_view fields, F&& f) {
  while (!fields.empty()) {
    size_t eol = fields.find("\r\n");
    std::string_view line = fields.substr(0, eol);
    fields.remove_prefix(eol == std::string_view::npos ? fields.size() : eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    if (!connection_specific(name)) f(name, trim_ows(line.substr(colon + 1)));
  }
}

/// `name` lower-cased into `out` (room for name.size() bytes), as HTTP/2 field names must be.
std::string_view lower_into(char* out, std::string_view name) {
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    out[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
  }
  return {out, name.size()};
}

nghttp2_nv field(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

Http2Stream::Http2Stream(Http2Connection& conn, int32_t id)
    : conn_(&conn), env_(conn.env()), id_(id), opened_ms_(conn.env().now_ms) {}

// ---------------------------------------------------------------------------------------------
// The request

bool Http2Stream::add_header(std::string_view name, std::string_view value) {
  if (header_bytes_ == 0) {  // one allocation each for a usual request's fields
    fields_.reserve(512);
    field_ends_.reserve(16);
  }
  header_bytes_ += name.size() + value.size() + 32;  // RFC 9113 §6.5.2's accounting
  if (header_bytes_ > env_.config.limits.max_header_bytes) return false;
  if (name == ":method") {
    method_ = value;
  } else if (name == ":path") {
    path_ = value;
  } else if (name == ":authority") {
    authority_ = value;
  } else if (name.starts_with(':')) {
    // :scheme: the connection's own scheme counts (a trusted proxy's X-Forwarded-Proto aside)
  } else if (name == "cookie") {
    if (!cookie_.empty()) cookie_.append("; ");  // split cookie fields are joined (RFC 9113 §8.2.3)
    cookie_.append(value);
  } else {
    if (name == "host") has_host_ = true;
    if (name == "content-length") {  // nghttp2 checked it is digits, and will check the DATA against it
      has_length_ = true;
      content_length_ = 0;
      for (char c : value) content_length_ = content_length_ * 10 + static_cast<uint64_t>(c - '0');
    }
    store_field(name, value);
  }
  return true;
}

void Http2Stream::store_field(std::string_view name, std::string_view value) {
  fields_.append(name);
  uint32_t name_end = static_cast<uint32_t>(fields_.size());
  fields_.append(value);
  field_ends_.emplace_back(name_end, static_cast<uint32_t>(fields_.size()));
}

void Http2Stream::on_headers_end(bool end_stream) {
  headers_done_ = true;
  end_stream_ = end_stream;
  body_progress_ms_ = env_.now_ms;
  // The request head as the HTTP/1.1 parser gives it, its views into this stream's own strings.
  if (!has_host_ && !authority_.empty()) store_field("host", authority_);
  if (!cookie_.empty()) store_field("cookie", cookie_);
  head_.headers.clear();
  head_.headers.reserve(field_ends_.size());
  uint32_t start = 0;
  for (auto [name_end, value_end] : field_ends_) {
    std::string_view all(fields_);
    head_.headers.push_back({all.substr(start, name_end - start), all.substr(name_end, value_end - name_end)});
    if (head_.headers.back().name == "host") head_.host = head_.headers.back().value;
    start = value_end;
  }
  head_.method = method_;
  head_.target = path_;
  size_t q = path_.find('?');
  head_.path = std::string_view(path_).substr(0, q);
  head_.query = q == std::string::npos ? std::string_view() : std::string_view(path_).substr(q + 1);
  head_.framing = has_length_ ? http1::BodyFraming::kContentLength
                              : end_stream ? http1::BodyFraming::kNone : http1::BodyFraming::kChunked;
  head_.content_length = content_length_;
  if (conn_->held() > env_.config.write_high_watermark) {
    told_full_ = true;  // the connection's answers wait for the client: this one starts once they moved on
    return;
  }
  route();
}

void Http2Stream::route() {
  ++env_.requests;
  tls_ = conn_->transport().tls();
  client_ = resolve_client(env_, head_, conn_->peer_ip(), tls_ != nullptr);
  if (env_.observer) log_ = RequestLog::begin(head_, "HTTP/2.0", client_.ip);
  ctx_ = ResponseContext{};
  route_ = route_request(env_, *this, 0, head_, ctx_, params_, log_ ? &*log_ : nullptr);
  if (route_.answered) return ignore_body();
  uint64_t stream_limit = env_.routes.stream_limit(route_.route_id);
  mode_ = stream_limit ? BodyMode::kSink : BodyMode::kWhole;
  body_limit_ = stream_limit ? stream_limit : env_.config.limits.max_body;
  if (has_length_ && content_length_ > body_limit_) {
    return refuse(413, http1::describe(http1::ParseError::kPayloadTooLarge));
  }
  if (mode_ == BodyMode::kSink) {
    dispatch({}, true);
  } else if (end_stream_ && pending_.empty()) {
    dispatch({}, false);
    return;
  }
  pump_body();
}

void Http2Stream::dispatch(std::string_view body, bool streamed) {
  RoutedRequest req{head_,     body, route_.method, route_.route_id, params_, ctx_, client_.ip, client_.scheme,
                    streamed, tls_};
  env_.dispatcher.dispatch(*this, 0, req);
}

void Http2Stream::on_body(std::string_view data) {
  if (data.empty()) return;
  if (gone_ || mode_ == BodyMode::kIgnored) {
    if (!gone_) give_back(data.size());
    return;
  }
  body_progress_ms_ = env_.now_ms;
  pending_.append(data);
  pump_body();
}

void Http2Stream::on_body_end() {
  end_stream_ = true;
  if (!gone_) pump_body();
}

void Http2Stream::pump_body() {
  switch (mode_) {
    case BodyMode::kUnrouted:
    case BodyMode::kIgnored:
      return;
    case BodyMode::kWhole: {
      size_t n = pending_.size();
      body_seen_ += n;
      if (body_seen_ > body_limit_) return refuse(413, http1::describe(http1::ParseError::kPayloadTooLarge));
      if (whole_.empty()) {
        whole_.swap(pending_);
      } else {
        whole_.append(pending_);
        pending_.clear();
      }
      give_back(n);
      if (!end_stream_) return;
      mode_ = BodyMode::kIgnored;
      std::string body = std::move(whole_);
      return dispatch(body, false);
    }
    case BodyMode::kSink:
      if (!sink_) return;  // held until set_body_sink()
      while (!sink_paused_ && !pending_.empty()) {
        size_t n = pending_.size();
        body_seen_ += n;
        if (body_seen_ > body_limit_) {
          BodySink* sink = std::exchange(sink_, nullptr);
          ignore_body();
          sink->on_body_error(413, http1::describe(http1::ParseError::kPayloadTooLarge));
          return;
        }
        std::string piece = std::move(pending_);
        pending_.clear();
        give_back(n);
        if (!sink_->on_body(piece)) sink_paused_ = true;
        if (!sink_ || mode_ != BodyMode::kSink) return;  // the sink went away during the call
      }
      if (end_stream_ && pending_.empty() && sink_) {
        BodySink* sink = std::exchange(sink_, nullptr);
        mode_ = BodyMode::kIgnored;
        sink->on_body_end();
      }
      return;
  }
}

void Http2Stream::give_back(size_t n) {
  if (n == 0 || gone_) return;
  conn_->consume(id_, n);
}

void Http2Stream::ignore_body() {
  mode_ = BodyMode::kIgnored;
  give_back(pending_.size());
  std::string().swap(pending_);
  std::string().swap(whole_);
}

void Http2Stream::refuse(int status, std::string_view text) {
  BodySink* sink = std::exchange(sink_, nullptr);
  ignore_body();
  if (sink) {
    sink->on_body_error(status, text);  // the handler answers
    return;
  }
  std::string body(text);
  body.push_back('\n');
  ResponseContext ctx = ctx_;
  ctx.keep_alive = false;
  respond_text(0, status, body, ctx, env_.config.extra_header_lines);
}

uint64_t Http2Stream::deadline() const noexcept {
  if (gone_ || !headers_done_ || end_stream_) return 0;
  bool waiting_for_body = mode_ == BodyMode::kWhole || (mode_ == BodyMode::kSink && sink_ && !sink_paused_);
  return waiting_for_body ? body_progress_ms_ + env_.config.header_timeout_ms : 0;
}

void Http2Stream::on_timeout() {
  if (deadline() == 0) return;
  refuse(408, "Request body not received in time");
}

void Http2Stream::detach() {
  if (gone_) return;
  conn_->unbuffer(buffered());
  give_back(pending_.size());
  gone_ = true;
  std::string().swap(out_);
  out_off_ = 0;
  std::string().swap(pending_);
  std::string().swap(whole_);
  mode_ = BodyMode::kIgnored;
  if (BodySink* sink = std::exchange(sink_, nullptr)) sink->on_body_error(0, "the client closed the stream");
  if (void* token = std::exchange(token_, nullptr)) env_.dispatcher.cancel(token);
}

void Http2Stream::starve() {
  starved_ = true;
  nghttp2_submit_rst_stream(conn_->ng(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
}

void Http2Stream::on_drained() {
  if (gone_) return;
  if (mode_ == BodyMode::kUnrouted && headers_done_) return route();
  if (wants_writable_ && token_) {
    wants_writable_ = false;
    env_.dispatcher.on_writable(token_);  // may write, or end the stream, right away
  }
}

// ---------------------------------------------------------------------------------------------
// The answer

void Http2Stream::submit(const ResponseHead& head, std::optional<uint64_t> length, bool body) {
  // On the stack for a usual answer (a few fields): one HEADERS costs no allocation here (nghttp2 copies the fields).
  size_t lines = static_cast<size_t>(std::count(head.fields.begin(), head.fields.end(), '\n'));
  constexpr size_t kSmallFields = 24, kSmallNames = 512;
  nghttp2_nv nv_small[kSmallFields];
  std::vector<nghttp2_nv> nv_big;
  nghttp2_nv* nv = nv_small;
  if (lines + 4 > kSmallFields) {
    nv_big.resize(lines + 4);
    nv = nv_big.data();
  }
  char names_small[kSmallNames];
  std::string names_big;
  char* names = names_small;  // the names lower-cased
  if (head.fields.size() > kSmallNames) {
    names_big.resize(head.fields.size());
    names = names_big.data();
  }
  size_t count = 0, names_used = 0;
  int code = head.status >= 100 && head.status <= 999 ? head.status : 500;
  const char status[3] = {static_cast<char>('0' + code / 100), static_cast<char>('0' + code / 10 % 10),
                          static_cast<char>('0' + code % 10)};
  nv[count++] = field(":status", std::string_view(status, 3));
  bool has_date = false, has_server = false;
  each_field(head.fields, [&](std::string_view name, std::string_view value) {
    std::string_view lower = lower_into(names + names_used, name);
    names_used += name.size();
    has_date = has_date || lower == "date";
    has_server = has_server || lower == "server";
    nv[count++] = field(lower, value);
  });
  std::string_view date = env_.date_line();  // "Date: ...\r\n"
  if (!has_date) nv[count++] = field("date", date.substr(6, date.size() - 8));
  if (!has_server && !env_.config.server_header.empty()) nv[count++] = field("server", env_.config.server_header);
  char digits[24];
  if (length && !lengthless_status(head.status)) {
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, *length);
    (void)ec;  // 24 bytes hold any uint64
    nv[count++] = field("content-length", std::string_view(digits, static_cast<size_t>(end - digits)));
  }
  for (size_t i = 0; i < count; ++i) sent_ += nv[i].namelen + nv[i].valuelen + 4;  // as HTTP/1.1 lines count
  if (!body) {
    nghttp2_submit_response(conn_->ng(), id_, nv, count, nullptr);
    return;
  }
  nghttp2_data_provider provider;
  provider.source.ptr = this;
  provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                              nghttp2_data_source* source, void*) -> ssize_t {
    return static_cast<Http2Stream*>(source->ptr)->read_body(buf, length, flags);
  };
  nghttp2_submit_response(conn_->ng(), id_, nv, count, &provider);
}

void Http2Stream::answered(int status, uint64_t bytes) {
  token_ = nullptr;
  wants_writable_ = false;
  if (log_ && env_.observer) env_.observer->on_response(log_->record(status, bytes));
  log_.reset();
  if (mode_ != BodyMode::kIgnored) {
    // Answered before its body was read to the end: the rest is not wanted (RST_STREAM(NO_ERROR) tells the client
    // once the answer is out, see Http2Callbacks::on_frame_send).
    BodySink* sink = std::exchange(sink_, nullptr);
    ignore_body();
    if (sink) sink->on_body_error(0, "the request was answered before its body was read");
  }
}

void Http2Stream::respond(uint64_t, const ResponseHead& head, std::string_view body, const ResponseContext& ctx,
                          uint64_t length) {
  if (gone_ || answered_) return;
  answered_ = true;
  uint64_t announced = length == kBodySize ? body.size() : length;
  bool has_body = !ctx.head_request && !bodyless_status(head.status) && !body.empty();
  submit(head, announced, has_body);
  if (has_body) {
    out_.assign(body);
    out_off_ = 0;
    complete_ = true;
    progress_ms_ = env_.now_ms;
    conn_->buffer(out_.size());
    sent_ += body.size();
  }
  answered(head.status, sent_);
  conn_->flush();
}

bool Http2Stream::stream_begin(uint64_t, const ResponseHead& head, const ResponseContext& ctx, uint64_t length,
                               void* token) {
  if (gone_ || answered_) return false;
  answered_ = true;
  bool body = !ctx.head_request && !bodyless_status(head.status) && length != 0;
  submit(head, length == kUnknownLength ? std::nullopt : std::optional<uint64_t>(length), body);
  if (!body) {
    answered(head.status, sent_);
    conn_->flush();
    return false;
  }
  streaming_ = true;
  status_ = head.status;
  token_ = token;
  conn_->flush();
  return true;
}

void Http2Stream::stream_write(uint64_t, std::string_view data) {
  if (data.empty() || gone_ || !streaming_) return;
  size_t before = buffered();
  if (before == 0) {
    out_.assign(data);
    out_off_ = 0;
    progress_ms_ = env_.now_ms;  // the wait for window starts now
  } else {
    out_.append(data);
  }
  sent_ += data.size();
  conn_->buffer(data.size());
  resume_data();
}

void Http2Stream::stream_end(uint64_t, bool abort) {
  if (!streaming_) return;
  streaming_ = false;
  answered(status_, sent_);
  if (gone_) return;
  if (abort) {
    // Cut short (the producer failed): the client must not take it for a complete answer.
    nghttp2_submit_rst_stream(conn_->ng(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
  } else {
    complete_ = true;
    resume_data();
  }
  conn_->flush();
}

void Http2Stream::stream_end_with_trailers(uint64_t seq, std::string_view fields) {
  if (!streaming_ || gone_ || fields.empty()) return stream_end(seq);
  trailers_.assign(fields);  // submitted by read_body() once the body's last byte is taken
  stream_end(seq);
}

bool Http2Stream::stream_writable(uint64_t) {
  if (gone_ || !streaming_) return false;
  if (conn_->held() <= env_.config.write_high_watermark) return true;
  wants_writable_ = true;
  told_full_ = true;  // on_drained() follows
  return false;
}

size_t Http2Stream::stream_budget(uint64_t seq) {
  if (!stream_writable(seq)) return 0;
  size_t watermark = env_.config.write_high_watermark;
  size_t left = watermark - std::min(conn_->held(), watermark);
  return std::max<size_t>(1, left / std::max<size_t>(1, conn_->open_streams()));
}

void Http2Stream::flush_output() {
  if (!gone_) conn_->flush();
}

void Http2Stream::defer(uint64_t, void* token) {
  if (!answered_) token_ = token;
}

void Http2Stream::set_body_sink(BodySink* sink) {
  if (gone_ || mode_ != BodyMode::kSink || sink_) return;
  sink_ = sink;
  sink_paused_ = false;
  body_progress_ms_ = env_.now_ms;
  pump_body();
  if (!gone_) conn_->flush();  // the window given back
}

void Http2Stream::drop_body_sink(BodySink* sink) noexcept {
  if (!sink || sink_ != sink) return;
  sink_ = nullptr;
  ignore_body();
}

void Http2Stream::resume_body() {
  if (gone_ || !sink_ || !sink_paused_) return;
  sink_paused_ = false;
  body_progress_ms_ = env_.now_ms;
  pump_body();
  if (!gone_) conn_->flush();
}

ssize_t Http2Stream::read_body(uint8_t* buf, size_t length, uint32_t* flags) {
  size_t avail = out_.size() - out_off_;
  size_t n = std::min(avail, length);
  if (n) {
    std::memcpy(buf, out_.data() + out_off_, n);
    out_off_ += n;
    progress_ms_ = env_.now_ms;
    conn_->unbuffer(n);
  }
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  }
  if (avail == n && complete_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!trailers_.empty()) {  // the stream ends with the trailers' HEADERS frame instead of this DATA frame
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      submit_trailers();
    }
  } else if (n == 0) {
    deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

void Http2Stream::submit_trailers() {
  std::vector<nghttp2_nv> nv;
  std::string names(trailers_.size(), '\0');  // the names lower-cased (nghttp2 copies them)
  size_t used = 0;
  each_field(trailers_, [&](std::string_view name, std::string_view value) {
    nv.push_back(field(lower_into(names.data() + used, name), value));
    used += name.size();
  });
  nghttp2_submit_trailer(conn_->ng(), id_, nv.data(), nv.size());
  trailers_.clear();
}

void Http2Stream::resume_data() {
  if (!deferred_) return;
  deferred_ = false;
  nghttp2_session_resume_data(conn_->ng(), id_);
}

}  // namespace tiercel
