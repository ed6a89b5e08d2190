// Percent-decoding of path segments and query strings (RFC 3986 §2.1; '+' as space in query strings).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tiercel {

/// Decodes %XX escapes; '+' becomes a space when `plus_as_space`. A '%' not followed by two hex digits is
/// kept as it is (lenient like browsers and Starlette, never an error).
/// "caf%C3%A9" -> "café", "a+b" -> "a b" (query) or "a+b" (path).
std::string percent_decode(std::string_view in, bool plus_as_space);

/// True when percent_decode would change `in`.
bool needs_decode(std::string_view in, bool plus_as_space) noexcept;

/// Splits "a=1&b=2&a=3" into decoded (key, value) pairs in order; "flag" gives ("flag", ""); empty
/// pieces ("a=1&&b=2") are skipped.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);

}  // namespace tiercel
