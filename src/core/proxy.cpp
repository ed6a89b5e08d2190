// Proxy headers.
#include "core/proxy.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

#include "core/field_syntax.h"

namespace tiercel {

namespace {



/// Parses a textual address into (family, 16 bytes); IPv4-mapped IPv6 becomes IPv4.
bool parse_ip(std::string_view text, int& family, unsigned char out[16]) noexcept {
  char buf[64];
  if (text.empty() || text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  std::memset(out, 0, 16);
  if (inet_pton(AF_INET, buf, out) == 1) {
    family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, buf, out) == 1) {
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(out, kMapped, 12) == 0) {
      std::memmove(out, out + 12, 4);
      std::memset(out + 4, 0, 12);
      family = AF_INET;
    } else {
      family = AF_INET6;
    }
    return true;
  }
  return false;
}

/// A Forwarded `for=` / X-Forwarded-For item as a bare address: quotes, [brackets] and a :port removed.
std::string_view bare_address(std::string_view v) noexcept {
  v = trim_ows(v);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (!v.empty() && v.front() == '[') {
    size_t close = v.find(']');
    return close == std::string_view::npos ? std::string_view{} : v.substr(1, close - 1);
  }
  size_t colon = v.find(':');
  if (colon != std::string_view::npos && v.find(':', colon + 1) == std::string_view::npos) v = v.substr(0, colon);
  return v;
}

std::string_view scheme_of(std::string_view v) noexcept {
  v = trim_ows(v);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (ascii_iequal(v, "https")) return "https";
  if (ascii_iequal(v, "http")) return "http";
  return {};
}

struct Hop {
  std::string_view ip;
  std::string_view scheme;
};

/// Like each_list_item (core/field_syntax.h), but with any separator and empty items kept: an empty X-Forwarded-For hop
/// is a hop, and must not let the next one pass for it.
template <class F>
void each_item(std::string_view list, char sep, F&& f) {
  while (true) {
    size_t at = list.find(sep);
    f(trim_ows(list.substr(0, at)));
    if (at == std::string_view::npos) break;
    list.remove_prefix(at + 1);
  }
}

}  // namespace

bool TrustedProxies::parse(std::string_view list, std::string& error) {
  any_ = false;
  nets_.clear();
  bool ok = true;
  each_item(list, ',', [&](std::string_view item) {
    if (!ok || item.empty()) return;
    if (item == "*") {
      any_ = true;
      return;
    }
    Net n{};
    size_t slash = item.find('/');
    std::string_view addr = item.substr(0, slash);
    if (!parse_ip(addr, n.family, n.addr)) {
      error = "not an IP address or network: '" + std::string(item) + "'";
      ok = false;
      return;
    }
    int max = n.family == AF_INET ? 32 : 128;
    n.prefix = max;
    if (slash != std::string_view::npos) {
      std::string_view bits = item.substr(slash + 1);
      int p = 0;
      bool digits = !bits.empty() && bits.size() <= 3;
      for (char c : bits) {
        digits = digits && c >= '0' && c <= '9';
        if (digits) p = p * 10 + (c - '0');
      }
      if (!digits || p > max) {
        error = "bad network prefix in '" + std::string(item) + "'";
        ok = false;
        return;
      }
      n.prefix = p;
    }
    nets_.push_back(n);
  });
  return ok;
}

bool TrustedProxies::trusts(std::string_view ip) const noexcept {
  if (any_) return true;
  int family = 0;
  unsigned char addr[16];
  if (!parse_ip(ip, family, addr)) return false;
  for (const Net& n : nets_) {
    if (n.family != family) continue;
    int full = n.prefix / 8, rest = n.prefix % 8;
    if (std::memcmp(addr, n.addr, static_cast<size_t>(full)) != 0) continue;
    if (rest) {
      unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
      if ((addr[full] & mask) != (n.addr[full] & mask)) continue;
    }
    return true;
  }
  return false;
}

ForwardedClient resolve_forwarded(const std::vector<http1::Header>& headers, const TrustedProxies& trusted) {
  std::vector<Hop> hops;
  bool have_forwarded = false;
  for (auto& h : headers) {
    if (!ascii_iequal(h.name, "forwarded")) continue;
    have_forwarded = true;
    each_item(h.value, ',', [&](std::string_view element) {
      Hop hop;
      each_item(element, ';', [&](std::string_view pair) {
        size_t eq = pair.find('=');
        if (eq == std::string_view::npos) return;
        std::string_view key = trim_ows(pair.substr(0, eq)), value = pair.substr(eq + 1);
        if (ascii_iequal(key, "for")) hop.ip = bare_address(value);
        if (ascii_iequal(key, "proto")) hop.scheme = scheme_of(value);
      });
      hops.push_back(hop);
    });
  }
  std::vector<std::string_view> protos;
  if (!have_forwarded) {
    for (auto& h : headers) {
      if (ascii_iequal(h.name, "x-forwarded-for")) {
        each_item(h.value, ',', [&](std::string_view item) { hops.push_back(Hop{bare_address(item), {}}); });
      } else if (ascii_iequal(h.name, "x-forwarded-proto")) {
        each_item(h.value, ',', [&](std::string_view item) { protos.push_back(scheme_of(item)); });
      }
    }
  }
  ForwardedClient out;
  if (hops.empty()) {
    if (!protos.empty()) out.scheme = protos.back();
    return out;
  }
  size_t chosen = 0;
  for (size_t i = hops.size(); i-- > 0;) {
    if (!trusted.trusts(hops[i].ip)) {
      chosen = i;
      break;
    }
  }
  int family = 0;
  unsigned char scratch[16];
  if (parse_ip(hops[chosen].ip, family, scratch)) out.ip = hops[chosen].ip;
  if (have_forwarded) {
    out.scheme = hops[chosen].scheme;
  } else if (!protos.empty()) {
    // X-Forwarded-Proto lists one scheme per hop like X-Forwarded-For, or just the first proxy's.
    size_t from_right = hops.size() - chosen;
    out.scheme = protos.size() >= from_right ? protos[protos.size() - from_right] : protos.front();
  }
  return out;
}

}  // namespace tiercel
