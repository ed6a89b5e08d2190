// Access log and metrics.
#include "bindings/telemetry.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>

namespace tiercel::py {

namespace {

constexpr size_t kFlushAt = 64 * 1024;   // the log is written out once this much is waiting (or each second)
constexpr size_t kMaxWaiting = 4 << 20;  // beyond this (stdout stuck), lines are dropped rather than kept

void add(uint64_t* word, uint64_t n) noexcept {
  std::atomic_ref<uint64_t>(*word).fetch_add(n, std::memory_order_relaxed);
}

uint64_t load(const uint64_t* word) noexcept {
  return std::atomic_ref<uint64_t>(*const_cast<uint64_t*>(word)).load(std::memory_order_relaxed);
}

}  // namespace

void Telemetry::on_response(const RequestRecord& r) noexcept {
  try {
    if (base) {
      size_t route = r.route_id < max_routes ? r.route_id : max_routes;
      uint64_t* w = block(own) + kHeader + route * kStride;
      int cls = r.status / 100;
      if (cls >= 1 && cls <= kStatusClasses) add(w + cls - 1, 1);
      double seconds = static_cast<double>(r.duration_us) / 1e6;
      int b = 0;
      while (b < kBucketCount && seconds > kBuckets[b]) ++b;
      if (b < kBucketCount) add(w + kStatusClasses + b, 1);
      add(w + kStatusClasses + kBucketCount, r.duration_us);
    }
    if (access_log) {
      std::time_t now = std::time(nullptr);
      if (now != log_second_) {
        log_second_ = now;
        std::tm tm{};
        gmtime_r(&now, &tm);
        std::strftime(log_time_, sizeof log_time_, "%d/%b/%Y:%H:%M:%S +0000", &tm);
      }
      if (log_.size() > kMaxWaiting) return;
      char tail[64];
      std::snprintf(tail, sizeof tail, "\" %d %llu %.3f\n", r.status, static_cast<unsigned long long>(r.bytes),
                    static_cast<double>(r.duration_us) / 1000.0);
      log_.append(r.client_ip).append(" - - [").append(log_time_).append("] \"");
      // The request line is the client's: control bytes and quotes are escaped so a line cannot be forged.
      for (char c : r.request_line) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || c == '"' || c == '\\') {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\x%02x", u);
          log_.append(esc);
        } else {
          log_.push_back(c);
        }
      }
      log_.append(tail);
      if (log_.size() >= kFlushAt) flush();
    }
  } catch (...) {
    // Out of memory while logging: the request was answered; the line is lost.
  }
}

void Telemetry::on_connection(int delta) noexcept {
  if (base) add(block(own), static_cast<uint64_t>(static_cast<int64_t>(delta)));
}

void Telemetry::on_connection_limit(bool reached, uint64_t limited_ms) noexcept {
  if (!base) return;
  if (limited_ms) add(block(own) + 2, limited_ms);
  if (reached) add(block(own) + 3, 1);
}

void Telemetry::on_background(int outcome, uint64_t n) noexcept {
  if (base && n && outcome >= kTaskQueued && outcome <= kTaskAbandoned) add(block(own) + 4 + outcome, n);
}

void Telemetry::flush() noexcept {
  size_t done = 0;
  while (done < log_.size()) {
    ssize_t n = ::write(log_fd, log_.data() + done, log_.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // EAGAIN or a closed stdout: keep the rest for the next flush (bounded by kMaxWaiting)
    }
  }
  log_.erase(0, done);
}

std::string Telemetry::render() const {
  std::string out;
  if (!base) return out;
  const size_t words = block_words(max_routes);
  std::vector<uint64_t> sum(words, 0);
  for (size_t b = 0; b < nblocks; ++b) {
    const uint64_t* w = block(b);
    for (size_t i = 0; i < words; ++i) sum[i] += load(w + i);
  }
  static constexpr const char* kClass[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  auto label = [&](size_t route) -> std::string {
    return route < route_labels.size() ? route_labels[route] : std::string("route=\"\",method=\"\"");
  };
  out.append("# HELP tiercel_requests_total Requests answered, by route and status class.\n");
  out.append("# TYPE tiercel_requests_total counter\n");
  for (size_t r = 0; r <= max_routes; ++r) {
    const uint64_t* w = sum.data() + kHeader + r * kStride;
    for (int c = 0; c < kStatusClasses; ++c) {
      if (!w[c]) continue;
      out.append("tiercel_requests_total{").append(label(r)).append(",status=\"").append(kClass[c]).append("\"} ");
      out.append(std::to_string(w[c])).append("\n");
    }
  }
  out.append("# HELP tiercel_request_duration_seconds Time from a request's dispatch to its answer.\n");
  out.append("# TYPE tiercel_request_duration_seconds histogram\n");
  for (size_t r = 0; r <= max_routes; ++r) {
    const uint64_t* w = sum.data() + kHeader + r * kStride;
    uint64_t total = 0;
    for (int c = 0; c < kStatusClasses; ++c) total += w[c];
    if (!total) continue;
    uint64_t cumulative = 0;
    char le[32];
    for (int b = 0; b < kBucketCount; ++b) {
      cumulative += w[kStatusClasses + b];
      std::snprintf(le, sizeof le, "%g", kBuckets[b]);
      out.append("tiercel_request_duration_seconds_bucket{").append(label(r)).append(",le=\"").append(le);
      out.append("\"} ").append(std::to_string(cumulative)).append("\n");
    }
    out.append("tiercel_request_duration_seconds_bucket{").append(label(r)).append(",le=\"+Inf\"} ");
    out.append(std::to_string(total)).append("\n");
    char seconds[48];
    std::snprintf(seconds, sizeof seconds, "%.6f", static_cast<double>(w[kStatusClasses + kBucketCount]) / 1e6);
    out.append("tiercel_request_duration_seconds_sum{").append(label(r)).append("} ").append(seconds).append("\n");
    out.append("tiercel_request_duration_seconds_count{").append(label(r)).append("} ");
    out.append(std::to_string(total)).append("\n");
  }
  out.append("# HELP tiercel_open_connections Client connections open now.\n");
  out.append("# TYPE tiercel_open_connections gauge\n");
  out.append("tiercel_open_connections ").append(std::to_string(static_cast<int64_t>(sum[0]))).append("\n");
  out.append("# HELP tiercel_worker_restarts_total Workers the supervisor started again after one died.\n");
  out.append("# TYPE tiercel_worker_restarts_total counter\n");
  out.append("tiercel_worker_restarts_total ").append(std::to_string(sum[1])).append("\n");
  out.append("# HELP tiercel_connections_limited_seconds_total Time workers spent at max_connections, not accepting.\n");
  out.append("# TYPE tiercel_connections_limited_seconds_total counter\n");
  char limited[48];
  std::snprintf(limited, sizeof limited, "%.3f", static_cast<double>(sum[2]) / 1e3);
  out.append("tiercel_connections_limited_seconds_total ").append(limited).append("\n");
  out.append("# HELP tiercel_connections_limited_total Times a worker reached max_connections and stopped accepting.\n");
  out.append("# TYPE tiercel_connections_limited_total counter\n");
  out.append("tiercel_connections_limited_total ").append(std::to_string(sum[3])).append("\n");
  static constexpr const char* kTasks[][2] = {
      {"queued", "handed to the engine once their answer was written"},
      {"done", "that returned"},
      {"failed", "that raised (logged with the traceback) or could not start"},
      {"abandoned", "still pending or running when a worker stopped (logged by name)"}};
  for (int i = kTaskQueued; i <= kTaskAbandoned; ++i) {
    std::string name = std::string("tiercel_background_tasks_") + kTasks[i][0] + "_total";
    out.append("# HELP ").append(name).append(" Background tasks ").append(kTasks[i][1]).append(".\n");
    out.append("# TYPE ").append(name).append(" counter\n");
    out.append(name).append(" ").append(std::to_string(sum[4 + static_cast<size_t>(i)])).append("\n");
  }
  return out;
}

}  // namespace tiercel::py
