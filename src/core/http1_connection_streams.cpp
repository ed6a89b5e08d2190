// HTTP/1.1 connection logic, streams: a request body handed to its BodySink piece by piece as it arrives, and an
// answer streamed as it is produced (with backpressure: the producer waits while the output is over the watermark).
#include "core/http1_connection.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace tiercel {

bool Http1Connection::deliver_body() {
  if (!body_sink_ || body_paused_) {
    transport_.pause_reading();  // resume_body() or set_body_sink() reads on
    return false;
  }
  if (state_ == State::kStreamLength) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(len_ - pos_, body_left_));
    if (n > 0) {
      std::string_view piece(data_ + pos_, n);
      pos_ += n;
      head_start_ = pos_;
      body_left_ -= n;
      if (!body_sink_->on_body(piece)) body_paused_ = true;
    }
    if (body_left_ == 0) {
      end_body_stream(0, {});
      return true;
    }
  } else {
    http1::Limits limits = env_.config.limits;
    limits.max_body = body_limit_;
    size_t consumed = 0;
    http1::ParseError err = http1::ParseError::kNone;
    auto st = chunked_.feed(std::string_view(data_ + pos_, len_ - pos_), limits, chunked_body_, consumed, err);
    if (st == http1::ParseStatus::kError) {
      end_body_stream(http1::status_for(err), http1::describe(err));
      return false;
    }
    pos_ += consumed;
    head_start_ = pos_;
    if (!chunked_body_.empty()) {
      if (!body_sink_->on_body(chunked_body_)) body_paused_ = true;
      chunked_body_.clear();
    }
    if (st == http1::ParseStatus::kComplete) {
      end_body_stream(0, {});
      return true;
    }
  }
  if (body_paused_) transport_.pause_reading();
  return false;
}

void Http1Connection::end_body_stream(int status, std::string_view message) {
  BodySink* sink = std::exchange(body_sink_, nullptr);
  body_paused_ = false;
  if (status == 0) {
    state_ = State::kHead;
    head_start_ = pos_;
    if (!paused_pipeline_ && !paused_write_) transport_.resume_reading();
    if (sink) sink->on_body_end();
    return;
  }
  stop_body_stream();
  if (sink) sink->on_body_error(status, message);
}

void Http1Connection::stop_body_stream() {
  // The rest of the body will not be read: nothing more is parsed, and the connection closes after the answer.
  body_sink_ = nullptr;
  body_paused_ = false;
  state_ = State::kClosing;
  len_ = pos_ = head_start_ = 0;
  if (!close_after_ || body_seq_ < close_seq_) {
    close_after_ = true;
    close_seq_ = body_seq_;
  }
}

void Http1Connection::set_body_sink(BodySink* sink) {
  if (!streaming_body() || body_sink_ || closing_ || transport_closed_) return;
  body_sink_ = sink;
  body_paused_ = false;
  if (in_process_) return;  // dispatch: process() goes on to deliver what is buffered
  if (!paused_pipeline_ && !paused_write_) transport_.resume_reading();
  process();
  send_output();
}

void Http1Connection::resume_body() {
  if (!streaming_body() || !body_sink_ || !body_paused_ || closing_ || transport_closed_) return;
  body_paused_ = false;
  if (!paused_pipeline_ && !paused_write_) transport_.resume_reading();
  if (in_process_) return;
  process();
  send_output();
}

void Http1Connection::drop_body_sink(BodySink* sink) noexcept {
  if (!sink || body_sink_ != sink) return;
  stop_body_stream();
  if (!in_process_ && !closing_ && !transport_closed_) send_output();
}

bool Http1Connection::stream_begin(uint64_t seq, const ResponseHead& head, const ResponseContext& request_ctx,
                                   uint64_t length, void* token) {
  ResponseContext ctx = answer_context(seq, request_ctx);
  std::string bytes;
  ResponseWriter w = head_writer(bytes, head);
  ResponseWriter::Framing framing;
  if (length != kUnknownLength) {
    framing = w.finish_head(length, ctx) && length != 0 ? ResponseWriter::Framing::kLength
                                                         : ResponseWriter::Framing::kNone;
  } else {
    framing = w.finish_head_streaming(ctx);
  }
  if (framing == ResponseWriter::Framing::kNone) {  // the head alone: the answer is complete
    response_buffer(seq).append(bytes);
    if (env_.observer) observe(seq, head.status, bytes.size());
    finish_response(seq, w.says_close());
    return false;
  }
  Slot* s = find_slot(seq);
  if (!s) {
    // A stream always has a slot (even as the current answer): later answers queue behind it in order.
    slots_.push_back(Slot{seq, {}, nullptr, false, false});
    s = &slots_.back();
  }
  s->streaming = true;
  s->token = token;
  s->framing = framing;
  s->last = w.says_close() || framing == ResponseWriter::Framing::kUntilClose;
  s->status = head.status;
  s->streamed = bytes.size();
  s->bytes.append(bytes);
  flush_ready();
  if (!in_process_ && !closing_) send_output();
  return true;
}

void Http1Connection::stream_write(uint64_t seq, std::string_view data) {
  Slot* s = find_slot(seq);
  if (data.empty() || !s || !s->streaming || transport_closed_) return;
  if (s->framing != ResponseWriter::Framing::kChunked) return stream_append(*s, data);
  char size[24];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  stream_append(*s, std::string_view(size, static_cast<size_t>(n)), data, "\r\n");
}

void Http1Connection::stream_append(Slot& s, std::string_view a, std::string_view b, std::string_view c) {
  s.streamed += a.size() + b.size() + c.size();
  if (&slots_.front() == &s && s.bytes.empty()) {
    out_.append(a).append(b).append(c);  // the current answer: straight into the output (flush_output() sends it)
  } else {
    s.bytes.append(a).append(b).append(c);
    if (&slots_.front() == &s) flush_ready();
  }
}

ssize_t Http1Connection::stream_send_file(uint64_t seq, int fd, uint64_t offset, size_t count) {
  Slot* s = find_slot(seq);
  if (!s || !s->streaming || s->framing != ResponseWriter::Framing::kLength || closing_ || transport_closed_) return -1;
  if (&slots_.front() != s || !s->bytes.empty()) return 0;
  if (!out_.empty()) transport_.send(out_);  // what comes before the file bytes goes first
  if (transport_closed_ || transport_.unsent_bytes() != 0) return 0;
  ssize_t n = transport_.send_file(fd, offset, count);
  if (n > 0) s->streamed += static_cast<uint64_t>(n);
  return n;
}

void Http1Connection::flush_output() {
  if (!in_process_ && !closing_ && !transport_closed_) send_output();
}

bool Http1Connection::stream_writable(uint64_t seq) {
  Slot* s = find_slot(seq);
  if (!s || !s->streaming || closing_ || transport_closed_) return false;
  bool ok = &slots_.front() == s && out_.size() + transport_.unsent_bytes() <= env_.config.write_high_watermark;
  if (!ok) s->wants_writable = true;
  return ok;
}

size_t Http1Connection::stream_budget(uint64_t seq) {
  if (!stream_writable(seq)) return 0;
  size_t used = out_.size() + transport_.unsent_bytes();
  size_t left = env_.config.write_high_watermark - std::min(used, env_.config.write_high_watermark);
  return std::max<size_t>(1, left / std::max<size_t>(1, transport_.write_sharers()));
}

void Http1Connection::stream_end(uint64_t seq, bool abort) { end_stream(seq, abort, {}); }

void Http1Connection::stream_end_with_trailers(uint64_t seq, std::string_view fields) {
  end_stream(seq, false, fields);
}

void Http1Connection::end_stream(uint64_t seq, bool abort, std::string_view trailers) {
  Slot* s = find_slot(seq);
  if (!s || !s->streaming) return;
  // Cut short, a stream closes the connection without its last chunk: the client cannot take it for complete.
  if (!abort && s->framing == ResponseWriter::Framing::kChunked && !transport_closed_) {
    if (trailers.empty()) {
      stream_append(*s, "0\r\n\r\n");
    } else {  // RFC 9112 7.1.2: the last chunk, the trailer section, then the empty line
      std::string last = "0\r\n";
      last.append(trailers).append("\r\n");
      stream_append(*s, last);
    }
  }
  s->streaming = false;
  s->wants_writable = false;
  if (env_.observer) observe(seq, s->status, s->streamed);
  finish_response(seq, abort || s->last);
}

void Http1Connection::notify_writable() {
  if (notifying_ || slots_.empty() || closing_ || transport_closed_) return;
  Slot& front = slots_.front();
  if (!front.streaming || !front.wants_writable || !front.token) return;
  if (out_.size() + transport_.unsent_bytes() > env_.config.write_high_watermark) return;
  front.wants_writable = false;
  notifying_ = true;
  env_.dispatcher.on_writable(front.token);  // may write, or end the stream, right away
  notifying_ = false;
}

}  // namespace tiercel
