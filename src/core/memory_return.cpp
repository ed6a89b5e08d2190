// Memory given back after a burst: see memory_return.h.
#include "core/memory_return.h"

#include <malloc.h>

#include <algorithm>

namespace tiercel {

MemoryReturn::MemoryReturn(uv_loop_t* loop) {
  uv_timer_init(loop, &timer_);
  timer_.data = this;
}

void MemoryReturn::close() {
  auto* handle = reinterpret_cast<uv_handle_t*>(&timer_);
  if (!uv_is_closing(handle)) uv_close(handle, nullptr);
}

void MemoryReturn::on_connections(size_t count) {
  count_ = count;
  peak_ = std::max(peak_, count);
  if (left_ != 0 || peak_ == 0 || count * 2 > peak_) return;
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_))) return;
  fallen_to_ = count;
  peak_ = count;
  left_ = 1 + kFollowUps;
  uv_timer_start(&timer_, on_timer, kSettleMs, kEveryMs);
}

void MemoryReturn::on_timer(uv_timer_t* t) {
  auto* self = static_cast<MemoryReturn*>(t->data);
  malloc_trim(0);
  ++self->returns_;
  // The follow-ups are for the burst that fell: a new one (the count back above where it fell to) has its own.
  if (--self->left_ == 0 || self->count_ > std::max<size_t>(1, self->fallen_to_ * 2)) {
    self->left_ = 0;
    uv_timer_stop(t);
  }
}

}  // namespace tiercel
