// libFuzzer target for src/core/websocket's client-frame parser: any bytes, fed whole and in pieces. Both ways
// must agree (same messages, same failure), every text message must be valid UTF-8, no message may pass the
// maximum, and nothing is reported after a close frame or a failure.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "core/websocket.h"

using namespace tiercel;

namespace {

struct Recorder : ws::FrameHandler {
  std::vector<std::pair<int, std::string>> events;
  bool closed = false;
  void note(int kind, std::string_view data) {
    if (closed) std::abort();  // nothing after a close
    events.emplace_back(kind, std::string(data));
  }
  void on_message(ws::Opcode op, std::string_view data) override {
    if (op == ws::kText && !ws::valid_utf8(data)) std::abort();
    if (data.size() > 4096) std::abort();
    note(op, data);
  }
  void on_ping(std::string_view p) override { note(ws::kPing, p); }
  void on_pong(std::string_view p) override { note(ws::kPong, p); }
  void on_close(uint16_t code, std::string_view reason) override {
    note(ws::kClose, std::to_string(code) + std::string(reason));
    closed = true;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  ws::Parser whole(4096), split(4096);
  Recorder a, b;
  std::string reason;
  uint16_t fa = whole.feed(input, a, reason);
  uint16_t fb = 0;
  size_t step = size ? (data[0] % 13) + 1 : 1;
  for (size_t i = 0; i < size && !fb; i += step) fb = split.feed(input.substr(i, step), b, reason);
  if (fa != fb || a.events != b.events) std::abort();
  return 0;
}
