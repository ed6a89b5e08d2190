// HTTP/1.1 or HTTP/2: see http_switch.h.
#include "core/http_switch.h"

#include <cstring>
#include <utility>

#include "core/http2.h"
#include "core/tls.h"

namespace tiercel {

HttpSwitch::HttpSwitch(ConnectionEnv& env, Transport& transport, std::string peer_ip, bool sniff_h2c)
    : env_(env), transport_(transport), current_(new Http1Connection(env, transport, std::move(peer_ip))),
      sniffed_(!sniff_h2c) {}

void HttpSwitch::release() noexcept {
  current_->release();
  delete this;
}

void HttpSwitch::on_input(char* data, size_t n) {
  if (!sniffed_ && sniff(std::string_view(data, n))) return;
  current_->on_input(data, n);
}

bool HttpSwitch::sniff(std::string_view fresh) {
  std::string joined;  // the bytes held back, then the fresh ones
  std::string_view data = fresh;
  if (held_ != 0) data = joined.assign(sniff_, held_).append(fresh);
  if (looks_like_h2_preface(data)) {
    if (data.size() <= sizeof sniff_) {  // too few to tell: held in sniff_ until the next read
      std::memcpy(sniff_, data.data(), data.size());
      held_ = static_cast<uint8_t>(data.size());
      return true;
    }
    sniffed_ = true;
    use_http2(data);
    return true;
  }
  sniffed_ = true;
  if (held_ == 0) return false;
  held_ = 0;
  current_->on_input(joined.data(), joined.size());  // HTTP/1.1 after all: the bytes held back go first
  return true;
}

void HttpSwitch::on_secured(const TlsInfo& info) {
  if (info.alpn == "h2") use_http2({});
}

void HttpSwitch::use_http2(std::string_view first) {
  if (http2_) return;
  std::string bytes(first);  // they may live in the HTTP/1.1 connection's buffer, which goes now
  auto* h1 = static_cast<Http1Connection*>(current_);
  auto* h2 = new Http2Connection(env_, transport_, h1->peer_ip());
  current_ = h2;
  http2_ = true;
  h1->on_transport_closed();
  h1->release();
  h2->flush();  // our SETTINGS
  if (!bytes.empty()) h2->on_read(bytes);
}

}  // namespace tiercel
