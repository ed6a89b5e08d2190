// The in-memory transport: the session sees exactly what a socket would give it.
#include "core/memory_connection.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>
#include <utility>

namespace tiercel {

namespace {
constexpr size_t kReadChunk = 16 * 1024;  // what one socket read delivers at most, as in TcpConnection
}  // namespace

MemoryConnection::MemoryConnection(SessionEnv& env, std::string peer_ip) : env_(env) {
  refresh_clock();
  session_ = new Http1Session(env_, *this, std::move(peer_ip));
}

MemoryConnection::~MemoryConnection() { disconnect(); }

void MemoryConnection::refresh_clock() {
  env_.now_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
  env_.now_s = std::time(nullptr);
}

void MemoryConnection::feed(std::string_view bytes) {
  if (peer_closed_) return;
  backlog_.append(bytes);
  pump();
}

void MemoryConnection::pump() {
  if (pumping_) return;  // resume_reading() from inside on_read(): the outer loop goes on
  pumping_ = true;
  refresh_clock();
  while (!backlog_.empty() && reading_ && !peer_closed_ && !close_requested_) {
    if (!session_->holds_input()) {
      // As TcpConnection reads into the loop's buffer: a read of its own, freed right after, so that a view the
      // session kept into it is a use-after-free under ASan.
      size_t n = std::min(kReadChunk, backlog_.size());
      auto borrowed = std::make_unique<char[]>(n);
      backlog_.copy(borrowed.get(), n);
      backlog_.erase(0, n);
      session_->on_read_borrowed(borrowed.get(), n);
      continue;
    }
    auto [p, space] = session_->read_space(kReadChunk);
    size_t n = std::min({space, kReadChunk, backlog_.size()});
    backlog_.copy(p, n);
    backlog_.erase(0, n);
    session_->on_read(n);
  }
  pumping_ = false;
}

std::string MemoryConnection::take_output() { return std::exchange(output_, {}); }

void MemoryConnection::disconnect() {
  if (peer_closed_) return;
  peer_closed_ = true;
  Http1Session* s = session_;
  session_ = nullptr;
  s->on_transport_closed();
  s->release();  // deferred answers may keep the session alive a little longer
}

void MemoryConnection::send(std::string& out) {
  output_.append(out);
  out.clear();
  notify();
}

void MemoryConnection::close() {
  close_requested_ = true;
  notify();
}

void MemoryConnection::resume_reading() {
  reading_ = true;
  pump();
}

void MemoryConnection::notify() {
  if (on_output_) on_output_();
}

}  // namespace tiercel
