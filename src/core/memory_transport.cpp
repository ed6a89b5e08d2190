// The in-memory transport: what the server sends is kept for the peer, with the calls it made.
#include "core/memory_transport.h"

#include <algorithm>

namespace tiercel {

void MemoryTransport::send(std::string& out) {
  note_call();
  if (close_requested_) bytes_after_close_ += out.size();
  sent_.append(out);
  if (slow_) unsent_ += out.size();
  ++sends_;
  out.clear();
  notify();
}

void MemoryTransport::close() {
  note_call();
  if (!close_requested_) sent_at_close_ = sent_.size();
  ++close_calls_;
  close_requested_ = true;
  notify();
}

void MemoryTransport::pause_reading() {
  note_call();
  ++pauses_;
  reading_ = false;
}

void MemoryTransport::resume_reading() {
  note_call();
  ++resumes_;
  reading_ = true;
  if (on_resume_ && !dead_) on_resume_();
}

size_t MemoryTransport::unsent_bytes() const {
  note_call();
  return unsent_;
}

void MemoryTransport::wake_later() {
  note_call();
  wake_ = true;
}

bool MemoryTransport::drain(size_t n) noexcept {
  unsent_ -= std::min(n, unsent_);
  return unsent_ == 0;
}

}  // namespace tiercel
