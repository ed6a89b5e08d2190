// The in-memory transport (DESIGN §8): a Transport whose peer is the program itself. It keeps what the
// server sends, models a peer that reads at once or only when told, and notes every call, so that the TestClient,
// the native tests and the fuzzers drive the server's own connections through one transport.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "core/transport.h"

namespace tiercel {

class MemoryTransport final : public Transport {
 public:
  using Transport::send;

  // --- Transport: what the server does ---
  void send(std::string& out) override;
  void close() override;
  void pause_reading() override;
  void resume_reading() override;
  size_t unsent_bytes() const override;
  void wake_later() override;

  // --- the peer's side ---
  /// A slow peer leaves what was sent unsent until drain(); a fast one (the default) reads everything at once.
  void set_slow(bool slow) noexcept { slow_ = slow; }
  /// The peer read `n` bytes (all when n exceeds what is queued). Returns true when nothing is left, which is when
  /// a socket transport tells the connection on_drained().
  bool drain(size_t n = SIZE_MAX) noexcept;
  /// Called after the server sent bytes or asked to close (the peer's wake-up).
  void set_on_output(std::function<void()> fn) { on_output_ = std::move(fn); }
  /// Called when the server resumes reading (the owner delivers the input that waited).
  void set_on_resume(std::function<void()> fn) { on_resume_ = std::move(fn); }
  /// The owner called on_transport_closed(): from now on any call into this transport is a bug (with the socket
  /// transport it would touch freed memory), counted by calls_after_dead().
  void mark_dead() noexcept { dead_ = true; }

  /// Every byte sent since the last take_sent().
  const std::string& sent() const noexcept { return sent_; }
  /// Takes what was sent so far.
  std::string take_sent() { return std::exchange(sent_, {}); }
  /// Bytes sent that a slow peer has not read yet.
  size_t unsent() const noexcept { return unsent_; }
  bool reading() const noexcept { return reading_; }
  bool close_requested() const noexcept { return close_requested_; }
  bool dead() const noexcept { return dead_; }
  int close_calls() const noexcept { return close_calls_; }
  int pauses() const noexcept { return pauses_; }
  int resumes() const noexcept { return resumes_; }
  int sends() const noexcept { return sends_; }
  /// Whether wake_later() was called since the last take_wake(): the loop's next turn is due (on_later()).
  bool take_wake() noexcept { return std::exchange(wake_, false); }
  /// Bytes handed to send() after close(): close() promises to close once the bytes already sent are written, so
  /// anything later is lost or sent on a half-closed socket.
  size_t bytes_after_close() const noexcept { return bytes_after_close_; }
  /// Size of sent() when close() was first called (all of it while close() was not called).
  size_t sent_at_close() const noexcept { return close_requested_ ? sent_at_close_ : sent_.size(); }
  /// Calls of any kind after mark_dead().
  int calls_after_dead() const noexcept { return calls_after_dead_; }

 private:
  void note_call() const noexcept {
    if (dead_) ++calls_after_dead_;
  }
  void notify() const {
    if (on_output_) on_output_();
  }

  std::string sent_;
  std::function<void()> on_output_;
  std::function<void()> on_resume_;
  size_t unsent_ = 0;
  size_t bytes_after_close_ = 0;
  size_t sent_at_close_ = 0;
  bool slow_ = false;
  bool reading_ = true;
  bool close_requested_ = false;
  bool dead_ = false;
  bool wake_ = false;
  int close_calls_ = 0;
  int pauses_ = 0;
  int resumes_ = 0;
  int sends_ = 0;
  mutable int calls_after_dead_ = 0;
};

}  // namespace tiercel
