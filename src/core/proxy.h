// Proxy headers: behind a trusted reverse proxy, the client's address and scheme come from X-Forwarded-For /
// X-Forwarded-Proto or Forwarded (RFC 7239); from anyone else those headers are ignored.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/http1_parser.h"

namespace tiercel {

/// The proxies whose headers are believed: addresses and networks ("10.0.0.0/8", "::1"), or any ("*").
class TrustedProxies {
 public:
  /// Parses "127.0.0.1, 10.0.0.0/8, ::1" (or "*"); false with `error` saying which item is wrong.
  bool parse(std::string_view list, std::string& error);
  /// Whether the textual address `ip` is trusted (an IPv4-mapped IPv6 address counts as its IPv4 one).
  bool trusts(std::string_view ip) const noexcept;

 private:
  struct Net {
    int family;              // AF_INET or AF_INET6
    unsigned char addr[16];  // network byte order
    int prefix;
  };
  bool any_ = false;
  std::vector<Net> nets_;
};

/// What the proxy headers say about the client; empty views leave the connection's own values.
struct ForwardedClient {
  std::string_view ip;      ///< points into the request's headers
  std::string_view scheme;  ///< "http" or "https" (static)
};

/// For a request whose connection comes from a trusted proxy (`peer`): the client is the rightmost address of
/// the chain (Forwarded `for=`, else X-Forwarded-For) that is not itself a trusted proxy, or the leftmost when all
/// are; the scheme is that hop's `proto=` (Forwarded) or X-Forwarded-Proto. Malformed values are ignored.
ForwardedClient resolve_forwarded(const std::vector<http1::Header>& headers, const TrustedProxies& trusted);

}  // namespace tiercel
