// Strict HTTP/1.1 request parser (RFC 9112): request line, header section, framing decisions and the
// chunked body decoder. Table-driven scans, no allocation except the reused header vector and trailers.
#include "core/http1_parser.h"

#include <array>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tiercel::http1 {

namespace {

// ---------------------------------------------------------------------------------------------------
// Character classes (RFC 9110 §5.6.2, §5.5; RFC 9112 §3.2)

/// Builds a 256-entry membership table at compile time.
template <typename Pred>
constexpr std::array<bool, 256> make_table(Pred pred) {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<size_t>(c)] = pred(c);
  return t;
}

constexpr bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_digit(int c) { return c >= '0' && c <= '9'; }
constexpr bool one_of(int c, std::string_view set) { return set.find(static_cast<char>(c)) != std::string_view::npos; }

/// tchar: the characters of a token (methods, field names, codings, chunk-extension names).
constexpr auto kTchar = make_table([](int c) {
  return is_alpha(c) || is_digit(c) || one_of(c, "!#$%&'*+-.^_`|~");
});

/// Bytes allowed in a request-target: visible ASCII only (no controls, SP, DEL or obs-text).
constexpr auto kTargetChar = make_table([](int c) { return c >= 0x21 && c <= 0x7e; });

/// Bytes allowed inside a field value: field-vchar, SP and HTAB; obs-text (>= 0x80) is kept as sent.
constexpr auto kValueChar = make_table([](int c) { return c == '\t' || (c >= 0x20 && c != 0x7f); });

/// unreserved / sub-delims / '%' (pct-encoded is not re-validated): reg-name and userinfo characters.
constexpr auto kRegNameChar = make_table([](int c) {
  return is_alpha(c) || is_digit(c) || one_of(c, "-._~!$&'()*+,;=%");
});

/// Characters inside an IP-literal's brackets (IPv6 or IPvFuture).
constexpr auto kIpLiteralChar = make_table([](int c) {
  return is_alpha(c) || is_digit(c) || one_of(c, "-._~!$&'()*+,;=:");
});

/// Hex digit value, or -1.
constexpr auto kHexValue = [] {
  std::array<int8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[static_cast<size_t>(c)] = static_cast<int8_t>(is_digit(c) ? c - '0'
                                                    : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                                             : -1);
  }
  return t;
}();

inline uint8_t byte_at(const char* p) { return static_cast<uint8_t>(*p); }

/// First byte in [p, e) that is not a tchar, or e.
inline const char* scan_token(const char* p, const char* e) {
  while (p < e && kTchar[byte_at(p)]) ++p;
  return p;
}

#if defined(__SSE2__)
/// Index of the lowest set bit of a non-zero 16-bit mask.
inline int first_bit(unsigned mask) { return __builtin_ctz(mask); }
#endif

/// First byte in [p, e) that may not appear in a request-target, or e.
inline const char* scan_target(const char* p, const char* e) {
#if defined(__SSE2__)
  // 16 bytes at a time: valid bytes are 0x21..0x7e, i.e. signed > 0x20 and != 0x7f.
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i del = _mm_set1_epi8(0x7f);
  while (e - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i ok = _mm_andnot_si128(_mm_cmpeq_epi8(v, del), _mm_cmpgt_epi8(v, space));
    const unsigned bad = ~static_cast<unsigned>(_mm_movemask_epi8(ok)) & 0xffffu;
    if (bad != 0) return p + first_bit(bad);
    p += 16;
  }
#endif
  while (p < e && kTargetChar[byte_at(p)]) ++p;
  return p;
}

/// First byte in [p, e) that may not appear in a field value (CR, LF, NUL, other CTLs, DEL), or e.
inline const char* scan_value(const char* p, const char* e) {
#if defined(__SSE2__)
  // Invalid bytes are 0x00..0x1f except HTAB, and 0x7f; bytes >= 0x80 are negative as signed chars.
  const __m128i minus1 = _mm_set1_epi8(-1);
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i tab = _mm_set1_epi8('\t');
  const __m128i del = _mm_set1_epi8(0x7f);
  while (e - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i ctl = _mm_and_si128(_mm_cmpgt_epi8(v, minus1), _mm_cmplt_epi8(v, space));
    const __m128i bad_v = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), ctl), _mm_cmpeq_epi8(v, del));
    const unsigned bad = static_cast<unsigned>(_mm_movemask_epi8(bad_v));
    if (bad != 0) return p + first_bit(bad);
    p += 16;
  }
#endif
  while (p < e && kValueChar[byte_at(p)]) ++p;
  return p;
}

inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

/// Removes leading and trailing SP / HTAB.
inline std::string_view trim_ows(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && is_ows(s[b])) ++b;
  while (e > b && is_ows(s[e - 1])) --e;
  return s.substr(b, e - b);
}

/// ASCII case-insensitive comparison; `lower` must already be lower case.
inline bool iequals(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Request-target (RFC 9112 §3.2) and Host (RFC 9110 §7.2)

/// Validates `host [ ":" port ]` (RFC 3986 authority without userinfo). `port_required` demands
/// ':' and at least one digit, as authority-form does.
bool valid_host_port(std::string_view a, bool host_required, bool port_required) {
  size_t i = 0;
  if (!a.empty() && a[0] == '[') {
    const size_t close = a.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (size_t k = 1; k < close; ++k) {
      if (!kIpLiteralChar[static_cast<uint8_t>(a[k])]) return false;
    }
    i = close + 1;
  } else {
    while (i < a.size() && kRegNameChar[static_cast<uint8_t>(a[i])]) ++i;
    if (host_required && i == 0) return false;
  }
  if (i == a.size()) return !port_required;
  if (a[i] != ':') return false;
  ++i;
  if (port_required && i == a.size()) return false;
  for (; i < a.size(); ++i) {
    if (!is_digit(static_cast<uint8_t>(a[i]))) return false;
  }
  return true;
}

/// Validates an absolute-URI's authority: `[ userinfo "@" ] host [ ":" port ]` with a non-empty host.
bool valid_authority(std::string_view a) {
  const size_t at = a.rfind('@');
  if (at != std::string_view::npos) {
    for (size_t k = 0; k < at; ++k) {
      const auto c = static_cast<uint8_t>(a[k]);
      if (!kRegNameChar[c] && c != ':') return false;
    }
    a.remove_prefix(at + 1);
  }
  return valid_host_port(a, /*host_required=*/true, /*port_required=*/false);
}

/// Splits `rest` (what follows the authority, or the whole origin-form) into path and query; a
/// fragment (which clients should not send, but llhttp and h11 accept) is dropped from both.
void split_path_query(std::string_view rest, RequestHead& out) {
  const size_t end = rest.find_first_of("?#");
  out.path = rest.substr(0, end);
  if (end != std::string_view::npos && rest[end] == '?') {
    std::string_view q = rest.substr(end + 1);
    out.query = q.substr(0, q.find('#'));
  }
}

/// Checks the form of the target against the method and fills path/query (RFC 9112 §3.2.1–3.2.4):
/// CONNECT takes only authority-form, "*" only comes with OPTIONS, everything else is origin-form
/// ("/...") or absolute-form ("scheme://authority...").
bool classify_target(std::string_view method, std::string_view target, RequestHead& out) {
  if (method == "CONNECT") {
    if (!valid_host_port(target, /*host_required=*/true, /*port_required=*/true)) return false;
    out.path = target;
    return true;
  }
  if (target[0] == '/') {
    split_path_query(target, out);
    return true;
  }
  if (target == "*") {
    if (method != "OPTIONS") return false;
    out.path = target;
    return true;
  }
  // absolute-form: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://".
  if (!is_alpha(static_cast<uint8_t>(target[0]))) return false;
  size_t i = 1;
  while (i < target.size()) {
    const auto c = static_cast<uint8_t>(target[i]);
    if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.')) break;
    ++i;
  }
  if (target.substr(i, 3) != "://") return false;
  std::string_view rest = target.substr(i + 3);
  const size_t auth_end = rest.find_first_of("/?#");
  if (!valid_authority(rest.substr(0, auth_end))) return false;
  // "http://host?x" has an empty path; it stays empty (a view into buf cannot hold an invented "/").
  split_path_query(auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end), out);
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Request line (RFC 9112 §3)

constexpr std::string_view kHttpSlash = "HTTP/";

/// Validates the request-line bytes [b, e) (CR excluded) and fills method, target, path, query and
/// the version digits. When `complete` is false, [b, e) is only what has arrived so far: every byte
/// present is checked, so a prefix fails exactly where the whole line would.
ParseError check_request_line(const char* b, const char* e, bool complete, RequestHead& out, int& major,
                              int& minor) {
  const char* m_end = scan_token(b, e);
  if (m_end == e) return complete ? ParseError::kBadRequest : ParseError::kNone;
  if (*m_end != ' ' || m_end == b) return ParseError::kBadRequest;
  out.method = std::string_view(b, static_cast<size_t>(m_end - b));

  const char* t = m_end + 1;
  const char* t_end = scan_target(t, e);
  if (t_end == e) return complete ? ParseError::kBadRequest : ParseError::kNone;
  if (*t_end != ' ' || t_end == t) return ParseError::kBadRequest;
  out.target = std::string_view(t, static_cast<size_t>(t_end - t));
  if (!classify_target(out.method, out.target, out)) return ParseError::kBadRequest;

  // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive, nothing after it.
  const char* v = t_end + 1;
  const size_t have = static_cast<size_t>(e - v);
  if (have > 8 || (complete && have < 8)) return ParseError::kBadRequest;
  for (size_t i = 0; i < have; ++i) {
    const char c = v[i];
    const bool ok = i < 5 ? c == kHttpSlash[i] : i == 6 ? c == '.' : is_digit(static_cast<uint8_t>(c));
    if (!ok) return ParseError::kBadRequest;
  }
  if (complete) {
    major = v[5] - '0';
    minor = v[7] - '0';
  }
  return ParseError::kNone;
}

// ---------------------------------------------------------------------------------------------------
// Header semantics (RFC 9112 §6, RFC 9110 §7.2, §7.6.1, §10.1.1)

/// Headers that change framing, routing or the connection, noted while scanning the head.
struct Special {
  bool http11 = true;
  bool has_host = false;
  bool has_cl = false;
  bool has_te = false;
  bool has_content_type = false;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool conn_upgrade = false;
  bool has_upgrade = false;
  bool expect_continue = false;
  ParseError te_status = ParseError::kNone;  // 501 for a coding we do not decode, reported last
  uint64_t content_length = 0;
  std::string_view host;
};

/// Notes the Connection tokens in one field value; other tokens and empty list elements are ignored.
void scan_connection(std::string_view v, Special& s) {
  while (!v.empty()) {
    const size_t comma = v.find(',');
    const std::string_view item = trim_ows(v.substr(0, comma));
    if (iequals(item, "close")) s.conn_close = true;
    else if (iequals(item, "keep-alive")) s.conn_keep_alive = true;
    else if (iequals(item, "upgrade")) s.conn_upgrade = true;
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

/// Content-Length = 1*DIGIT, decimal only (no sign, no list, no "0x", no '_'), fits in uint64.
bool parse_content_length(std::string_view v, uint64_t& out) {
  if (v.empty()) return false;
  uint64_t n = 0;
  for (const char ch : v) {
    if (!is_digit(static_cast<uint8_t>(ch))) return false;
    const auto d = static_cast<uint64_t>(ch - '0');
    if (n > (UINT64_MAX - d) / 10) return false;
    n = n * 10 + d;
  }
  out = n;
  return true;
}

/// Transfer-Encoding must be a list of tokens, separated by commas with optional whitespace, whose
/// last element is "chunked" (case-insensitive) and which has no other coding:
/// * syntax errors (empty elements as in ",chunked", parameters as in "chunked;x=y", non-tokens),
///   "chunked" more than once, or a last coding that is not "chunked" (the length of the body cannot
///   be determined, RFC 9112 §6.3) -> 400;
/// * "chunked" last but preceded by any other coding ("gzip, chunked", "identity, chunked") -> 501,
///   since Tiercel decodes no transfer codings (RFC 9112 §6.1).
ParseError check_transfer_encoding(std::string_view v) {
  bool other = false;
  bool chunked_last = false;
  size_t i = 0;
  while (true) {
    while (i < v.size() && is_ows(v[i])) ++i;
    const size_t start = i;
    while (i < v.size() && kTchar[static_cast<uint8_t>(v[i])]) ++i;
    if (i == start) return ParseError::kBadRequest;
    if (chunked_last) return ParseError::kBadRequest;  // something after "chunked"
    if (iequals(v.substr(start, i - start), "chunked")) chunked_last = true;
    else other = true;
    while (i < v.size() && is_ows(v[i])) ++i;
    if (i == v.size()) break;
    if (v[i] != ',') return ParseError::kBadRequest;
    ++i;
  }
  if (!chunked_last) return ParseError::kBadRequest;
  return other ? ParseError::kNotImplemented : ParseError::kNone;
}

/// Looks at one complete header field. Framing conflicts are refused here, at the line that creates
/// them, so a hostile head fails without being buffered to its end; the cheap length switch keeps
/// ordinary fields to one comparison.
ParseError note_header(std::string_view name, std::string_view value, std::string_view raw_value, Special& s) {
  switch (name.size()) {
    case 4:
      if (iequals(name, "host")) {
        if (s.has_host || !valid_host_port(value, /*host_required=*/false, /*port_required=*/false)) {
          return ParseError::kBadRequest;
        }
        s.has_host = true;
        s.host = value;
      }
      break;
    case 6:
      if (iequals(name, "expect") && iequals(value, "100-continue")) s.expect_continue = true;
      break;
    case 7:
      if (iequals(name, "upgrade")) s.has_upgrade = true;
      break;
    case 10:
      if (iequals(name, "connection")) scan_connection(value, s);
      break;
    case 12:
      // Content-Type is a singleton (RFC 9110 §8.3) that decides how the body is read (form, JSON,
      // multipart): two of them let a proxy and the application disagree, like two Content-Lengths.
      if (iequals(name, "content-type")) {
        if (s.has_content_type) return ParseError::kBadRequest;
        s.has_content_type = true;
      }
      break;
    case 14:
      if (iequals(name, "content-length")) {
        if (s.has_cl || s.has_te || !parse_content_length(value, s.content_length)) return ParseError::kBadRequest;
        s.has_cl = true;
      }
      break;
    case 17:
      if (iequals(name, "transfer-encoding")) {
        if (s.has_te || s.has_cl || !s.http11) return ParseError::kBadRequest;
        // A tab anywhere in the field ("chunked\t", "\tchunked") is a known TE.TE obfuscation that some
        // parsers read as chunked and others as an unknown coding; llhttp (strict) refuses it, and so do we.
        if (raw_value.find('\t') != std::string_view::npos) return ParseError::kBadRequest;
        s.te_status = check_transfer_encoding(value);
        if (s.te_status == ParseError::kBadRequest) return ParseError::kBadRequest;
        s.has_te = true;
      }
      break;
    default:
      break;
  }
  return ParseError::kNone;
}

/// Applies the rules that need the whole head. 400 comes first (the request is malformed whatever
/// else), then 501 (an unsupported coding), then 413 (too large).
ParseError finish_head(const Special& s, const Limits& limits, RequestHead& out) {
  if (s.http11 && !s.has_host) return ParseError::kBadRequest;
  if (s.te_status != ParseError::kNone) return s.te_status;
  if (s.has_te) {
    out.framing = BodyFraming::kChunked;
  } else if (s.has_cl) {
    if (s.content_length > limits.max_body) return ParseError::kPayloadTooLarge;
    out.framing = BodyFraming::kContentLength;
    out.content_length = s.content_length;
  }
  out.host = s.host;
  out.keep_alive = s.http11 ? !s.conn_close : (s.conn_keep_alive && !s.conn_close);
  // RFC 9110 §10.1.1 and §7.8: an HTTP/1.0 request's 100-continue and Upgrade are ignored.
  out.expect_continue = s.http11 && s.expect_continue;
  out.upgrade = s.http11 && s.conn_upgrade && s.has_upgrade;
  return ParseError::kNone;
}

inline ParseStatus fail(ParseError& err, ParseError why) {
  err = why;
  return ParseStatus::kError;
}

/// Trailer fields that would change framing or routing if anyone merged them into the head.
bool forbidden_trailer(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") || iequals(name, "host");
}

}  // namespace

// -----------------------------------------------------------------------------------------------------

int status_for(ParseError err) noexcept {
  switch (err) {
    case ParseError::kUriTooLong: return 414;
    case ParseError::kHeaderTooLarge: return 431;
    case ParseError::kPayloadTooLarge: return 413;
    case ParseError::kNotImplemented: return 501;
    case ParseError::kVersionNotSupported: return 505;
    case ParseError::kNone:
    case ParseError::kBadRequest: return 400;
  }
  return 400;
}

std::string_view describe(ParseError err) noexcept {
  switch (err) {
    case ParseError::kNone: return "no error";
    case ParseError::kBadRequest: return "malformed or ambiguous request";
    case ParseError::kUriTooLong: return "request line too long";
    case ParseError::kHeaderTooLarge: return "request header fields too large";
    case ParseError::kPayloadTooLarge: return "request body too large";
    case ParseError::kNotImplemented: return "transfer coding not implemented";
    case ParseError::kVersionNotSupported: return "HTTP version not supported";
  }
  return "malformed or ambiguous request";
}

void RequestHead::clear() noexcept {
  method = {};
  target = {};
  path = {};
  query = {};
  version_minor = 1;
  headers.clear();
  host = {};
  framing = BodyFraming::kNone;
  content_length = 0;
  keep_alive = true;
  expect_continue = false;
  upgrade = false;
  head_size = 0;
}

ParseStatus parse_head(std::string_view buf, const Limits& limits, RequestHead& out, ParseError& err) noexcept {
  out.clear();
  err = ParseError::kNone;
  const char* const base = buf.data();
  const size_t n = buf.size();

  // Empty lines before the request line are skipped (RFC 9112 §2.2), up to max_request_line bytes.
  size_t line_start = 0;
  while (line_start < n && base[line_start] == '\r') {
    if (line_start + 2 > limits.max_request_line) return fail(err, ParseError::kBadRequest);
    if (line_start + 1 == n) return ParseStatus::kIncomplete;
    if (base[line_start + 1] != '\n') return fail(err, ParseError::kBadRequest);
    line_start += 2;
  }

  // The request line's CR may sit at most max_request_line bytes after its start.
  const size_t line_cap = line_start + static_cast<size_t>(limits.max_request_line);
  const size_t window = (n > line_cap ? line_cap + 1 : n) - line_start;
  const char* cr = static_cast<const char*>(std::memchr(base + line_start, '\r', window));
  int major = 0;
  int minor = 0;
  if (cr == nullptr) {
    const char* e = base + (n > line_cap ? line_cap : n);
    const ParseError e1 = check_request_line(base + line_start, e, /*complete=*/false, out, major, minor);
    if (e1 != ParseError::kNone) return fail(err, e1);
    if (n > line_cap) return fail(err, ParseError::kUriTooLong);
    return ParseStatus::kIncomplete;
  }
  const ParseError e1 = check_request_line(base + line_start, cr, /*complete=*/true, out, major, minor);
  if (e1 != ParseError::kNone) return fail(err, e1);
  if (major != 1 || minor > 1) return fail(err, ParseError::kVersionNotSupported);
  out.version_minor = static_cast<uint8_t>(minor);
  const size_t lf = static_cast<size_t>(cr - base) + 1;
  if (lf >= n) return ParseStatus::kIncomplete;
  if (base[lf] != '\n') return fail(err, ParseError::kBadRequest);

  // Header section: every byte of it, final CRLF included, must lie below `limit`.
  const size_t h0 = lf + 1;
  const size_t limit = h0 + static_cast<size_t>(limits.max_header_bytes);
  const size_t end = n < limit ? n : limit;
  // Running out of bytes at `end` means: wait for more if the limit is not reached, else 431.
  const auto out_of_bytes = [&]() { return end == limit ? fail(err, ParseError::kHeaderTooLarge) : ParseStatus::kIncomplete; };
  Special special;
  special.http11 = minor == 1;
  size_t q = h0;
  while (true) {
    if (q >= end) return out_of_bytes();
    const char c = base[q];
    if (c == '\r') {
      if (q + 1 >= end) return out_of_bytes();
      if (base[q + 1] != '\n') return fail(err, ParseError::kBadRequest);
      q += 2;
      break;
    }
    // One field too many is refused at its first byte; a line that starts with anything but a tchar
    // (obs-fold, whitespace before the first field, an empty name) fails just below.
    if (out.headers.size() >= limits.max_header_count && kTchar[static_cast<uint8_t>(c)]) {
      return fail(err, ParseError::kHeaderTooLarge);
    }
    const char* name_b = base + q;
    const char* name_e = scan_token(name_b, base + end);
    if (name_e == base + end) return out_of_bytes();
    if (*name_e != ':' || name_e == name_b) return fail(err, ParseError::kBadRequest);
    const char* v = name_e + 1;
    const char* v_e = scan_value(v, base + end);
    if (v_e == base + end) return out_of_bytes();
    if (*v_e != '\r') return fail(err, ParseError::kBadRequest);
    const size_t v_lf = static_cast<size_t>(v_e - base) + 1;
    if (v_lf >= end) return out_of_bytes();
    if (base[v_lf] != '\n') return fail(err, ParseError::kBadRequest);

    const std::string_view name(name_b, static_cast<size_t>(name_e - name_b));
    const std::string_view raw_value(v, static_cast<size_t>(v_e - v));
    const std::string_view value = trim_ows(raw_value);
    out.headers.push_back(Header{name, value});
    const ParseError field_err = note_header(name, value, raw_value, special);
    if (field_err != ParseError::kNone) return fail(err, field_err);
    q = v_lf + 1;
  }

  if (q > UINT32_MAX) return fail(err, ParseError::kHeaderTooLarge);
  const ParseError e2 = finish_head(special, limits, out);
  if (e2 != ParseError::kNone) return fail(err, e2);
  out.head_size = static_cast<uint32_t>(q);
  return ParseStatus::kComplete;
}

// -----------------------------------------------------------------------------------------------------
// Chunked body (RFC 9112 §7.1)

void ChunkedDecoder::reset() noexcept {
  state_ = State::kSize;
  remaining_ = 0;
  body_bytes_ = 0;
  line_bytes_ = 0;
  error_ = ParseError::kNone;
  line_.clear();
  trailer_bytes_ = 0;
  trailers_.clear();
}

ParseStatus ChunkedDecoder::feed(std::string_view in, const Limits& limits, std::string& out, size_t& consumed,
                                 ParseError& err) noexcept {
  const char* const b = in.data();
  const size_t n = in.size();
  size_t i = 0;
  err = ParseError::kNone;

  const auto refuse = [&](ParseError why) {
    state_ = State::kError;
    error_ = why;
    err = why;
    consumed = i;
    return ParseStatus::kError;
  };

  if (state_ == State::kError) {
    consumed = 0;
    err = error_;
    return ParseStatus::kError;
  }

  while (i < n) {
    const auto c = static_cast<uint8_t>(b[i]);

    if (state_ == State::kData) {
      // Bulk copy: the only place where most of the bytes go.
      const size_t take = remaining_ < n - i ? static_cast<size_t>(remaining_) : n - i;
      out.append(b + i, take);
      remaining_ -= take;
      i += take;
      if (remaining_ == 0) state_ = State::kDataCr;
      continue;
    }

    if (state_ <= State::kSizeLf) {
      // Every byte of the chunk-size line (CRLF excluded) counts against max_chunk_line.
      if (state_ != State::kSizeLf && c != '\r' && ++line_bytes_ > limits.max_chunk_line) {
        return refuse(ParseError::kBadRequest);
      }
      switch (state_) {
        case State::kSize:
          if (kHexValue[c] < 0) return refuse(ParseError::kBadRequest);
          remaining_ = static_cast<uint64_t>(kHexValue[c]);
          state_ = State::kSizeDigits;
          break;
        case State::kSizeDigits:
          // No whitespace anywhere on the chunk-size line: RFC 9112 allows BWS around ';' and '=', but
          // llhttp (strict) and h11 refuse some of it, and a framing difference between two parsers in a
          // chain is how bodies get smuggled, so Tiercel refuses all of it.
          if (kHexValue[c] >= 0) {
            if (remaining_ > (UINT64_MAX >> 4)) return refuse(ParseError::kBadRequest);
            remaining_ = (remaining_ << 4) | static_cast<uint64_t>(kHexValue[c]);
          } else if (c == ';') {
            state_ = State::kExtName0;
          } else if (c == '\r') {
            state_ = State::kSizeLf;
          } else {
            return refuse(ParseError::kBadRequest);
          }
          break;
        case State::kExtName0:
          if (kTchar[c]) state_ = State::kExtName;
          else return refuse(ParseError::kBadRequest);
          break;
        case State::kExtName:
          if (kTchar[c]) break;
          if (c == '=') state_ = State::kExtValue0;
          else if (c == ';') state_ = State::kExtName0;
          else if (c == '\r') state_ = State::kSizeLf;
          else return refuse(ParseError::kBadRequest);
          break;
        case State::kExtValue0:
          if (c == '"') state_ = State::kExtQuoted;
          else if (kTchar[c]) state_ = State::kExtToken;
          else return refuse(ParseError::kBadRequest);
          break;
        case State::kExtToken:
          if (kTchar[c]) break;
          if (c == ';') state_ = State::kExtName0;
          else if (c == '\r') state_ = State::kSizeLf;
          else return refuse(ParseError::kBadRequest);
          break;
        case State::kExtQuoted:
          // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
          if (c == '"') state_ = State::kExtQuoteEnd;
          else if (c == '\\') state_ = State::kExtQuotedPair;
          else if (!(c == '\t' || (c >= 0x20 && c != 0x7f))) return refuse(ParseError::kBadRequest);
          break;
        case State::kExtQuotedPair:
          if (!(c == '\t' || (c >= 0x20 && c != 0x7f))) return refuse(ParseError::kBadRequest);
          state_ = State::kExtQuoted;
          break;
        case State::kExtQuoteEnd:
          if (c == ';') state_ = State::kExtName0;
          else if (c == '\r') state_ = State::kSizeLf;
          else return refuse(ParseError::kBadRequest);
          break;
        case State::kSizeLf:
          if (c != '\n') return refuse(ParseError::kBadRequest);
          line_bytes_ = 0;
          if (remaining_ == 0) {
            state_ = State::kTrailers;
          } else {
            if (remaining_ > limits.max_body || body_bytes_ > limits.max_body - remaining_) {
              return refuse(ParseError::kPayloadTooLarge);
            }
            body_bytes_ += remaining_;
            state_ = State::kData;
          }
          break;
        default:
          break;
      }
      ++i;
      continue;
    }

    // Chunk data terminator and trailer section.
    if (state_ == State::kDone) break;
    if (state_ >= State::kTrailers && ++trailer_bytes_ > limits.max_trailer_bytes) {
      return refuse(ParseError::kHeaderTooLarge);
    }
    switch (state_) {
      case State::kDataCr:
        if (c != '\r') return refuse(ParseError::kBadRequest);
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') return refuse(ParseError::kBadRequest);
        state_ = State::kSize;
        break;
      case State::kTrailers:
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (kTchar[c]) {
          line_.assign(1, static_cast<char>(c));
          state_ = State::kTrailerLine;
        } else {
          // obs-fold, an empty name or any other byte cannot start a field line.
          return refuse(ParseError::kBadRequest);
        }
        break;
      case State::kTrailerLine:
        if (c == '\r') state_ = State::kTrailerLf;
        else if (kValueChar[c]) line_.push_back(static_cast<char>(c));
        else return refuse(ParseError::kBadRequest);
        break;
      case State::kTrailerLf: {
        if (c != '\n') return refuse(ParseError::kBadRequest);
        if (line_.empty()) {
          state_ = State::kDone;
          ++i;
          consumed = i;
          return ParseStatus::kComplete;
        }
        const std::string_view line(line_);
        const size_t colon = static_cast<size_t>(scan_token(line.data(), line.data() + line.size()) - line.data());
        if (colon == line.size() || line[colon] != ':') return refuse(ParseError::kBadRequest);
        const std::string_view name = line.substr(0, colon);
        if (forbidden_trailer(name)) return refuse(ParseError::kBadRequest);
        trailers_.emplace_back(std::string(name), std::string(trim_ows(line.substr(colon + 1))));
        line_.clear();
        state_ = State::kTrailers;
        break;
      }
      default:
        break;
    }
    ++i;
  }

  consumed = i;
  return state_ == State::kDone ? ParseStatus::kComplete : ParseStatus::kIncomplete;
}

}  // namespace tiercel::http1
