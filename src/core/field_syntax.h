// HTTP field syntax (RFC 9110 §5) the core and the bindings share: names compared ignoring ASCII case, optional
// whitespace, comma-separated lists, and HTTP dates (§5.6.7 IMF-fixdate).
#pragma once

#include <cstddef>
#include <ctime>
#include <string>
#include <string_view>

namespace tiercel {

/// Whether `a` and `b` are equal ignoring ASCII letter case ("Content-Type" == "content-type").
bool ascii_iequal(std::string_view a, std::string_view b) noexcept;

/// `s` with ASCII letters lower-cased (HTTP/2 field names, DNS names).
std::string ascii_lower(std::string_view s);

/// `s` without leading and trailing spaces and tabs (HTTP's OWS).
std::string_view trim_ows(std::string_view s) noexcept;

/// Calls f(item) for each item of a comma-separated header list (RFC 9110 §5.6.1), trimmed of OWS, empty items
/// skipped. Stops, returning false, as soon as f returns false.
template <class F>
bool each_list_item(std::string_view list, F&& f) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
    if (!item.empty() && !f(item)) return false;
  }
  return true;
}

/// Writes "Sun, 06 Nov 1994 08:49:37 GMT" for `t` into `out` (30 bytes hold it, NUL included); returns the length
/// written, cut short (and NUL-terminated) when `size` is smaller.
size_t format_http_date(std::time_t t, char* out, size_t size) noexcept;
/// format_http_date() as a string.
std::string http_date(std::time_t t);
/// Parses an IMF-fixdate; -1 when `s` is not one.
std::time_t parse_http_date(std::string_view s);

}  // namespace tiercel
