// The access log and the Prometheus metrics: a RequestObserver the sessions report every answer to. Lines are
// formatted in C++ into a buffer written out in batches; counters live in memory that a supervisor may share
// between workers, so any worker can serve the metrics of all of them.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "core/observer.h"

namespace tiercel::py {

class Telemetry final : public RequestObserver {
 public:
  static constexpr int kStatusClasses = 5;  // 1xx..5xx
  static constexpr double kBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1.0,   2.5,   5.0,   10.0};
  static constexpr int kBucketCount = sizeof(kBuckets) / sizeof(kBuckets[0]);
  // Open connections; worker restarts (kept in the archive block); ms at max_connections; times it was reached;
  // background tasks queued, done, failed, abandoned.
  static constexpr size_t kHeader = 8;
  /// What became of background tasks (on_background).
  enum BackgroundOutcome : int { kTaskQueued, kTaskDone, kTaskFailed, kTaskAbandoned };
  static constexpr size_t kStride = kStatusClasses + kBucketCount + 1;  // + the sum of durations in µs

  /// Words (uint64) of one worker's block for up to `max_routes` routes (plus one for unmatched requests).
  static size_t block_words(size_t max_routes) { return kHeader + (max_routes + 1) * kStride; }

  // Access log.
  bool access_log = false;
  int log_fd = 1;
  void flush() noexcept;

  // Metrics: `blocks` blocks of block_words(max_routes) words at `base`; this process writes block `own`.
  uint64_t* base = nullptr;
  size_t nblocks = 0, own = 0, max_routes = 0;
  std::vector<std::string> route_labels;  // per route id: `route="/users/:id",method="GET"`
  /// The metrics of every block, in Prometheus' text format.
  std::string render() const;

  void on_response(const RequestRecord& r) noexcept override;
  void on_connection(int delta) noexcept override;
  void on_connection_limit(bool reached, uint64_t limited_ms) noexcept override;
  /// `n` background tasks reached `outcome` (a BackgroundOutcome).
  void on_background(int outcome, uint64_t n) noexcept;

 private:
  uint64_t* block(size_t i) const { return base + i * block_words(max_routes); }
  std::string log_;
  std::time_t log_second_ = -1;
  char log_time_[40] = {};
};

}  // namespace tiercel::py
