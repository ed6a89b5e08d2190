// The in-memory connection: the connection sees exactly what a socket would give it.
#include "core/memory_connection.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <memory>
#include <utility>

namespace tiercel {

MemoryConnection::MemoryConnection(ConnectionEnv& env, std::string peer_ip, MemoryLoop loop) : env_(env), loop_(loop) {
  refresh_clock();
  http1_ = new Http1Connection(env_, transport_, std::move(peer_ip));
  // A connection resumes reading from inside its own calls: with no loop to come back later, the input that waited
  // is read at once (pump() does not nest: from inside a read the outer loop goes on).
  transport_.set_on_resume([this] {
    if (loop_ == MemoryLoop::kImmediate) pump();
  });
}

MemoryConnection::~MemoryConnection() { disconnect(); }

void MemoryConnection::refresh_clock() {
  if (loop_ != MemoryLoop::kImmediate) return;
  env_.now_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
  env_.now_s = std::time(nullptr);
}

void MemoryConnection::feed(std::string_view bytes) {
  if (peer_closed_ || eof_) return;
  if (backlog_pos_ == backlog_.size()) {
    backlog_.clear();
    backlog_pos_ = 0;
  }
  backlog_.append(bytes);
  pump();
}

bool MemoryConnection::can_read() const noexcept {
  // Once the server asked to close and its output is written, TcpConnection has shut down and discards input.
  bool shut_down = transport_.close_requested() && transport_.unsent() == 0;
  return backlog_pos_ < backlog_.size() && transport_.reading() && !eof_ && !peer_closed_ && !shut_down;
}

void MemoryConnection::pump() {
  if (pumping_) return;  // resume_reading() from inside on_read(): the outer loop goes on
  pumping_ = true;
  refresh_clock();
  while (can_read()) {
    size_t waiting = backlog_.size() - backlog_pos_;
    const char* from = backlog_.data() + backlog_pos_;
    size_t n;
    if (borrowing_ && !http1_->holds_input()) {
      // As TcpConnection reads into the loop's buffer: here one of its own, freed right after, so that a view the
      // connection kept into it is a use-after-free under ASan.
      n = std::min({read_size_, kLoopBuffer, waiting});
      auto borrowed = std::make_unique<char[]>(n);
      std::memcpy(borrowed.get(), from, n);
      backlog_pos_ += n;
      delivered_ += n;
      http1_->on_read_borrowed(borrowed.get(), n);
    } else {
      auto [p, space] = http1_->read_space(min_free_);
      n = std::min({read_size_, space, waiting});
      std::memcpy(p, from, n);
      backlog_pos_ += n;
      delivered_ += n;
      http1_->on_read(n);
    }
  }
  pumping_ = false;
}

void MemoryConnection::disconnect() {
  if (peer_closed_) return;
  peer_closed_ = true;
  Http1Connection* s = std::exchange(http1_, nullptr);
  s->on_transport_closed();
  transport_.mark_dead();
  s->release();  // deferred answers may keep the connection alive a little longer
}

void MemoryConnection::eof() {
  if (eof_ || peer_closed_) return;
  eof_ = true;
  // TcpConnection tells the connection only when it has not asked to close itself.
  if (!transport_.close_requested()) http1_->on_eof();
}

void MemoryConnection::drain(size_t n) {
  if (peer_closed_) return;
  if (!transport_.drain(n) || transport_.close_requested()) return;  // closing: a socket shuts down instead
  refresh_clock();
  http1_->on_drained();
}

bool MemoryConnection::advance_to(uint64_t now_ms) {
  env_.now_ms = now_ms;
  if (peer_closed_) return false;
  uint64_t d = http1_->deadline();
  if (d == 0 || d > now_ms) return false;
  http1_->on_timeout();
  return true;
}

}  // namespace tiercel
