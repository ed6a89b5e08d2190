// HTTP/1.1 connection logic: framing, keep-alive, pipelining in order, limits, timeouts, backpressure. Streamed
// request bodies and streamed answers are in http1_connection_streams.cpp, answers in http1_connection_answers.cpp.
#include "core/http1_connection.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/request_routing.h"

namespace tiercel {

namespace {
constexpr size_t kInitialBuffer = 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr uint64_t kDrainFirstRequestMs = 1000;  // while draining, how long a new connection has to send
// While draining, how long a keep-alive connection between requests waits for its next one before it is closed. A
// client sending back to back has its next request on the way (often already in the socket) when the drain begins:
// closing at once would answer it with EOF. 100 ms covers a loaded machine's scheduling delay, yet a silent
// connection does not hold the shutdown back.
constexpr uint64_t kDrainIdleGraceMs = 100;

}  // namespace

Http1Connection::Http1Connection(ConnectionEnv& env, Transport& transport, std::string peer_ip)
    : env_(env), transport_(transport), peer_ip_(std::move(peer_ip)) {
  deadline_ms_ = env_.now_ms + env_.config.header_timeout_ms;
}

void Http1Connection::release() noexcept {
  if (--refs_ == 0) delete this;
}

std::pair<char*, size_t> Http1Connection::read_space(size_t min_free) {
  if (cap_ - len_ < min_free) {
    // A socket's connection asks for 16 KiB at once; a connection fed from elsewhere (an HTTP/2 stream) for what it
    // holds: a small request gets a small buffer.
    size_t want = cap_ == 0 || borrowed_ ? kInitialBuffer : cap_;
    while (want < len_ + min_free) want *= 2;
    own_input(want);
  }
  return {data_ + len_, cap_ - len_};
}

void Http1Connection::own_input(size_t capacity) {
  if (borrowed_) {
    // The loop's buffer is reused by the next read of any connection: what is kept moves into our own.
    std::vector<char> own(capacity);
    if (len_ != 0) std::memcpy(own.data(), data_, len_);
    buf_.swap(own);
    borrowed_ = false;
  } else {
    buf_.resize(capacity);
  }
  data_ = buf_.data();
  cap_ = buf_.size();
  head_moved_ = true;
}

void Http1Connection::release_input() noexcept {
  if (len_ != 0 || borrowed_ || cap_ == 0) return;
  std::vector<char>().swap(buf_);
  data_ = nullptr;
  cap_ = 0;
  head_moved_ = true;
}

void Http1Connection::on_read_borrowed(char* data, size_t n) {
  if (len_ != 0 || borrowed_) {
    // Part of a request is held already: the new bytes go after it.
    feed(std::string_view(data, n));
    return;
  }
  data_ = data;
  cap_ = n;
  borrowed_ = true;
  on_read(n);
  if (!borrowed_) return;  // read_space() moved what is kept into our own buffer
  if (len_ != 0) return own_input(std::max(len_, kInitialBuffer));  // a partial request, or requests held back
  borrowed_ = false;
  data_ = buf_.data();
  cap_ = buf_.size();
  release_input();
}

void Http1Connection::on_read(size_t n) {
  len_ += n;
  if (upgraded_) {
    std::string_view data(data_ + len_ - n, n);
    len_ = pos_ = 0;
    if (!closing_ && !transport_closed_) upgraded_->on_bytes(data);
    return;
  }
  if (closing_ || transport_closed_ || (close_after_ && !streaming_body())) {
    // Draining after an error or `Connection: close` (even while an earlier answer is still pending):
    // nothing more will be parsed, so input is discarded rather than buffered without bound. (The streamed
    // body of a last request is still read: its handler is waiting for it.)
    len_ = pos_ = 0;
    head_start_ = 0;
    state_ = State::kClosing;
    release_input();
    return;
  }
  process();
  send_output();
}

void Http1Connection::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    auto [p, n] = read_space(bytes.size());
    size_t k = std::min(n, bytes.size());
    std::memcpy(p, bytes.data(), k);
    bytes.remove_prefix(k);
    on_read(k);
  }
}

void Http1Connection::process() {
  in_process_ = true;
  while (!closing_ && (!close_after_ || streaming_body())) {
    if (streaming_body()) {
      // Before the pipelining and output limits: the body goes to a request already in flight.
      if (!deliver_body()) break;
      continue;
    }
    if (in_flight() >= env_.config.max_pipelined) {
      // Too many answers pending on this connection: leave the rest buffered until some complete.
      if (!paused_pipeline_) {
        paused_pipeline_ = true;
        transport_.pause_reading();
      }
      break;
    }
    if (out_.size() + transport_.unsent_bytes() > env_.config.write_high_watermark) {
      // Backpressure inside one read: a batch of small pipelined requests for large answers must not
      // buffer every answer at once (40 request bytes can ask for megabytes). The rest waits in the buffer;
      // send_output() / on_drained() resume parsing once the output is written.
      write_blocked_ = true;
      break;
    }
    if (state_ == State::kHead) {
      if (pos_ == len_) break;
      if (!handle_head()) break;
    } else if (state_ == State::kBodyLength) {
      uint64_t need = head_.content_length;
      if (len_ - pos_ < need) {
        // Grow once for the whole declared body (already bounded by limits.max_body).
        size_t total = (pos_ - head_start_) + need;
        if (cap_ - head_start_ < total) {
          compact();
          read_space(static_cast<size_t>(total - (len_ - head_start_)));
        }
        break;
      }
      std::string_view body(data_ + pos_, static_cast<size_t>(need));
      pos_ += static_cast<size_t>(need);
      dispatch_current(body);
      state_ = State::kHead;
    } else if (state_ == State::kBodyChunked) {
      size_t consumed = 0;
      http1::ParseError err = http1::ParseError::kNone;
      auto st = chunked_.feed(std::string_view(data_ + pos_, len_ - pos_), env_.config.limits, chunked_body_,
                              consumed, err);
      size_t head_end = head_start_ + head_.head_size;
      if (st == http1::ParseStatus::kError) {
        respond_error(http1::status_for(err), http1::describe(err));
        break;
      }
      // Decoded bytes now live in chunked_body_: drop the raw chunk bytes, keep the head in place.
      size_t rest = len_ - (pos_ + consumed);
      std::memmove(data_ + head_end, data_ + pos_ + consumed, rest);
      len_ = head_end + rest;
      pos_ = head_end;
      if (st == http1::ParseStatus::kIncomplete) break;
      dispatch_current(chunked_body_);
      state_ = State::kHead;
    } else {
      break;
    }
  }
  compact();
  update_deadline();
  in_process_ = false;
}

bool Http1Connection::handle_head() {
  // parse_head keeps no state, so re-running it on every read of a trickled head would cost quadratic
  // time. Re-parse only when the end of the head (CRLF CRLF) has arrived or the unparsed bytes doubled
  // since the last try; the doubling still enforces the limits with at most 2x buffering.
  size_t avail = len_ - pos_;
  size_t from = head_scanned_ > 3 ? head_scanned_ - 3 : 0;
  bool terminated = from < avail && memmem(data_ + pos_ + from, avail - from, "\r\n\r\n", 4) != nullptr;
  head_scanned_ = avail;
  if (!terminated && head_tried_ != 0 && avail < 2 * head_tried_) return false;
  head_tried_ = avail;
  http1::ParseError err = http1::ParseError::kNone;
  auto st = http1::parse_head(std::string_view(data_ + pos_, avail), env_.config.limits, head_, err);
  if (st == http1::ParseStatus::kIncomplete) return false;
  uint64_t stream_limit = 0;
  if (st == http1::ParseStatus::kError && err == http1::ParseError::kPayloadTooLarge && env_.routes.has_stream_body) {
    // Over max_body, but it may be for a route that streams its body (and has a limit of its own).
    http1::Limits unbounded = env_.config.limits;
    unbounded.max_body = UINT64_MAX;
    st = http1::parse_head(std::string_view(data_ + pos_, avail), unbounded, head_, err);
    if (st == http1::ParseStatus::kComplete) {
      stream_limit = stream_route_limit();
      if (stream_limit == 0) {
        st = http1::ParseStatus::kError;
        err = http1::ParseError::kPayloadTooLarge;
      }
    }
  } else if (st == http1::ParseStatus::kComplete && head_.framing != http1::BodyFraming::kNone &&
             env_.routes.has_stream_body) {
    stream_limit = stream_route_limit();
  }
  head_scanned_ = head_tried_ = 0;
  if (st == http1::ParseStatus::kError) {
    respond_error(http1::status_for(err), http1::describe(err));
    return false;
  }
  head_start_ = pos_;
  pos_ += head_.head_size;
  head_moved_ = false;
  head_deadline_ms_ = 0;
  if (stream_limit != 0) return start_body_stream(stream_limit);
  switch (head_.framing) {
    case http1::BodyFraming::kNone:
      dispatch_current({});
      return true;
    case http1::BodyFraming::kContentLength:
      state_ = State::kBodyLength;
      break;
    case http1::BodyFraming::kChunked:
      chunked_.reset();
      chunked_body_.clear();
      state_ = State::kBodyChunked;
      break;
  }
  // Interim 100 only when the body is not already here and nothing earlier is still pending.
  bool body_missing = head_.framing == http1::BodyFraming::kChunked ? len_ == pos_
                                                                     : len_ - pos_ < head_.content_length;
  if (head_.expect_continue && body_missing && slots_.empty()) {
    auto method = parse_method(head_.method);
    if (!method || env_.routes.router.match(*method, head_.path, params_).kind != RouteMatch::Kind::kFound) {
      // No handler would take the body: answer 404/405/501 now instead of 100 (RFC 9110 §10.1.1), and
      // close after it, since the body the client may still send is never read.
      head_.keep_alive = false;
      state_ = State::kHead;
      dispatch_current({});
      return false;
    }
    out_.append(kContinue);
  }
  return true;
}

uint64_t Http1Connection::stream_route_limit() {
  auto method = parse_method(head_.method);
  if (!method) return 0;
  RouteMatch m = env_.routes.router.match(*method, head_.path, params_);
  return m.kind == RouteMatch::Kind::kFound ? env_.routes.stream_limit(m.route_id) : 0;
}

bool Http1Connection::start_body_stream(uint64_t limit) {
  if (head_.framing == http1::BodyFraming::kContentLength && head_.content_length > limit) {
    respond_error(413, http1::describe(http1::ParseError::kPayloadTooLarge));
    return false;
  }
  state_ = head_.framing == http1::BodyFraming::kContentLength ? State::kStreamLength : State::kStreamChunked;
  body_left_ = head_.content_length;
  body_limit_ = limit;
  body_seq_ = next_seq_;
  body_sink_ = nullptr;
  body_paused_ = true;  // until the dispatcher sets a sink
  chunked_.reset();
  chunked_body_.clear();
  bool body_missing = head_.framing == http1::BodyFraming::kChunked ? len_ == pos_ : len_ - pos_ < head_.content_length;
  if (head_.expect_continue && body_missing && slots_.empty()) out_.append(kContinue);
  dispatch_current({}, true);
  // The Request copied whatever it keeps of the head: from here on the buffer holds only body bytes.
  head_start_ = pos_;
  head_moved_ = false;
  return true;
}

void Http1Connection::dispatch_current(std::string_view body, bool body_streamed) {
  if (head_moved_) {
    // The buffer moved since the head was parsed; the head is still intact at head_start_, so re-parse it
    // to re-point the views (cheaper and safer than rebasing every view).
    http1::ParseError err = http1::ParseError::kNone;
    http1::parse_head(std::string_view(data_ + head_start_, len_ - head_start_), env_.config.limits, head_,
                      err);
    if (head_.framing == http1::BodyFraming::kContentLength) {
      body = std::string_view(data_ + head_start_ + head_.head_size, static_cast<size_t>(head_.content_length));
    }
    head_moved_ = false;
  }
  uint64_t seq = next_seq_++;
  ++env_.requests;
  std::shared_ptr<const TlsInfo> tls = transport_.tls();
  ClientView client = resolve_client(env_, head_, peer_ip_, tls != nullptr);
  RequestLog* log = nullptr;
  if (env_.observer) {
    records_.push_back(LogRecord{seq, RequestLog::begin(head_, head_.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1",
                                                        client.ip)});
    log = &records_.back().log;
  }
  if (draining_) head_.keep_alive = false;  // shutting down: this answer is the connection's last
  if (!head_.keep_alive) {
    close_after_ = true;
    close_seq_ = seq;
  }
  ResponseContext ctx{.head_request = false, .keep_alive = head_.keep_alive, .http10 = head_.version_minor == 0};
  RouteDecision d = route_request(env_, *this, seq, head_, ctx, params_, log);
  if (d.answered) return;
  RoutedRequest req{head_, body, d.method, d.route_id, params_, ctx, client.ip, client.scheme, body_streamed,
                    std::move(tls)};
  env_.dispatcher.dispatch(*this, seq, req);
}

void Http1Connection::respond_error(int status, std::string_view message) {
  uint64_t seq = next_seq_++;
  state_ = State::kClosing;
  close_after_ = true;
  close_seq_ = seq;
  len_ = pos_ = 0;
  std::string text;
  text.reserve(message.size() + 1);
  text.append(message).push_back('\n');
  respond_text(seq, status, text, ResponseContext{.head_request = false, .keep_alive = false, .http10 = false},
               env_.config.extra_header_lines);
}

void Http1Connection::send_output() {
  if (closing_) {
    // close() was called: the transport writes what it was handed before, and nothing after.
    out_.clear();
    return;
  }
  while (!transport_closed_) {
    if (!out_.empty()) transport_.send(out_);
    if (close_after_ && next_write_ > close_seq_ && !closing_) {
      begin_close();
      return;
    }
    if (transport_.unsent_bytes() > env_.config.write_high_watermark) {
      if (!paused_write_) {
        paused_write_ = true;
        transport_.pause_reading();
        update_deadline();
      }
      return;
    }
    if (!write_blocked_ || closing_) {
      notify_writable();
      return;
    }
    // process() held requests back while the output was large, and the transport took it all: go on.
    write_blocked_ = false;
    process();
  }
}

void Http1Connection::on_drained() {
  if (upgraded_) {
    if (closing_ || transport_closed_) return;
    if (paused_write_) {
      paused_write_ = false;
      transport_.resume_reading();
    }
    upgraded_->on_drained();
    return;
  }
  if (!paused_write_) return;
  paused_write_ = false;
  if (closing_ || transport_closed_) return;
  if (!paused_pipeline_ && !body_paused_) transport_.resume_reading();
  write_blocked_ = false;
  // Parses what was held back (and refreshes the deadline: the client is reading again).
  process();
  send_output();
}

void Http1Connection::compact() {
  if (state_ == State::kClosing) {
    // respond_error() dropped the input (len_ = pos_ = 0); head_start_ may still point past it, and
    // `len_ - head_start_` below would underflow into a huge memmove.
    head_start_ = 0;
    release_input();
    return;
  }
  size_t keep_from = state_ == State::kHead ? pos_ : head_start_;
  if (keep_from != 0) {
    size_t rest = len_ - keep_from;
    if (rest) std::memmove(data_, data_ + keep_from, rest);
    len_ = rest;
    pos_ -= keep_from;
    head_start_ = 0;
    if (state_ != State::kHead) head_moved_ = true;
  }
  release_input();  // all of it was read: an idle connection keeps no buffer
}

void Http1Connection::update_deadline() {
  if (closing_ || upgraded_) return;
  if (streaming_body() && !body_paused_) {
    // The handler waits for body bytes: each idle gap in them may last header_timeout.
    deadline_ms_ = env_.now_ms + env_.config.header_timeout_ms;
  } else if (!slots_.empty()) {
    deadline_ms_ = 0;  // the application is working; its time is not the client's fault
  } else if (paused_write_ || write_blocked_) {
    // Waiting for the client to read our answers: like an idle connection, it has keepalive_timeout
    // (renewed each time the output drains) before it is closed.
    deadline_ms_ = env_.now_ms + env_.config.keepalive_timeout_ms;
  } else if (state_ == State::kHead && len_ > pos_) {
    // Part of a head is here: the whole head is due header_timeout after its first byte, however the
    // rest trickles in (renewing it per read would let a slowloris client send a byte a second forever).
    if (head_deadline_ms_ == 0) head_deadline_ms_ = env_.now_ms + env_.config.header_timeout_ms;
    deadline_ms_ = head_deadline_ms_;
  } else if (state_ != State::kHead) {
    // A body is arriving: header_timeout bounds each idle gap (a large upload may rightly take longer).
    deadline_ms_ = env_.now_ms + env_.config.header_timeout_ms;
  } else {
    deadline_ms_ = env_.now_ms + env_.config.keepalive_timeout_ms;
    if (draining_ && drain_idle_deadline_ms_ != 0 && drain_idle_deadline_ms_ < deadline_ms_) deadline_ms_ = drain_idle_deadline_ms_;
  }
}

void Http1Connection::on_timeout() {
  if (transport_closed_) return;
  if (closing_) {
    transport_.close();
    return;
  }
  if (streaming_body() && !body_paused_) {
    end_body_stream(408, "Request body not received in time");
    send_output();
    return;
  }
  bool mid_request = state_ != State::kHead || len_ > pos_;
  // Requests held back by our own backpressure are not the client being slow to send: no 408 then.
  if (mid_request && slots_.empty() && !paused_write_ && !write_blocked_) {
    respond_error(408, "Request header or body not received in time");
    send_output();
  } else {
    begin_close();
  }
}

void Http1Connection::upgrade(uint64_t seq, std::string_view response, UpgradedProtocol* protocol) {
  response_buffer(seq).append(response);
  finish_response(seq, false);
  upgraded_ = protocol;
  deadline_ms_ = 0;
  head_deadline_ms_ = 0;
  std::string leftover(data_ + pos_, len_ - pos_);
  len_ = pos_ = 0;
  state_ = State::kHead;
  if (!in_process_) send_output();
  if (!leftover.empty()) protocol->on_bytes(leftover);
}

void Http1Connection::send_raw(std::string_view bytes, bool later) {
  if (closing_ || transport_closed_) return;
  out_.append(bytes);
  if (!in_process_ && !later) send_output();
}

bool Http1Connection::output_full() const noexcept {
  return out_.size() + (transport_closed_ ? 0 : transport_.unsent_bytes()) > env_.config.write_high_watermark;
}

void Http1Connection::close_upgraded() {
  if (closing_ || transport_closed_) return;
  if (!out_.empty()) transport_.send(out_);
  begin_close();
}

void Http1Connection::drain() {
  if (draining_ || transport_closed_ || closing_) return;
  draining_ = true;
  if (upgraded_) return upgraded_->on_shutdown();
  bool mid_request = state_ != State::kHead || len_ > pos_;
  if (mid_request) {
    // dispatch_current() makes the request being received the last one; one dispatched already whose body is
    // still coming is made the last here.
    if (streaming_body() && (!close_after_ || body_seq_ < close_seq_)) {
      close_after_ = true;
      close_seq_ = body_seq_;
    }
    return;
  }
  if (slots_.empty() && out_.empty()) {
    // Between requests. The client may have sent its next one already (still in the socket, read on the loop's
    // next turn) or be about to: it gets a short grace to arrive, and its answer closes the connection. A new
    // connection (nothing received yet) gets longer: its client connected to send a request. Silent, it closes.
    drain_idle_deadline_ms_ = env_.now_ms + (next_seq_ == 0 ? kDrainFirstRequestMs : kDrainIdleGraceMs);
    update_deadline();
    return;
  }
  if (!slots_.empty() && !close_after_) {
    close_after_ = true;
    close_seq_ = next_seq_ - 1;  // after the answers to the requests already received
  }
  send_output();
}

void Http1Connection::begin_close() {
  closing_ = true;
  deadline_ms_ = 0;
  transport_.close();
}

void Http1Connection::on_eof() {
  closing_ = true;
  transport_.close();
}

void Http1Connection::on_transport_closed() {
  if (transport_closed_) return;
  transport_closed_ = true;
  closing_ = true;
  if (BodySink* sink = std::exchange(body_sink_, nullptr)) sink->on_body_error(0, "the client closed the connection");
  if (upgraded_) {
    UpgradedProtocol* p = std::exchange(upgraded_, nullptr);
    p->on_closed();
  }
  for (auto& s : slots_) {
    if (s.token && !s.ready) {
      void* t = s.token;
      s.token = nullptr;
      env_.dispatcher.cancel(t);
    }
  }
}

}  // namespace tiercel
