// Runs every request case of the llhttp and gunicorn corpora (TIERCEL_CORPORA_DIR) through the parser
// and checks that Tiercel accepts what they accept and refuses what they refuse, except for the
// deliberate differences listed in kDeviations below, each with its reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/http1_parser.h"

#ifndef TIERCEL_CORPORA_DIR
#error "TIERCEL_CORPORA_DIR must name the corpora directory"
#endif

namespace tiercel::http1 {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------------
// Deliberate differences

enum class Deviation : uint8_t {
  kNeedsHost,  ///< corpus accepts an HTTP/1.1 request without Host: refused (400) as is, and with a
               ///< Host line added to each such request everything else must match the corpus
  kRefuse,     ///< corpus accepts, Tiercel refuses with `err`
  kAccept,     ///< corpus refuses, Tiercel accepts (with a Host line added where one is missing)
  kWait,       ///< corpus refuses, Tiercel waits for more bytes (the input ends inside a message)
  kSkip,       ///< the case tests a feature of the corpus's own harness, not of the wire format
};

struct DeviationEntry {
  const char* name;  ///< the test's name, as generated below
  Deviation kind;
  ParseError err;    ///< for kRefuse
  const char* reason;
};

constexpr const char* kNoHost = "HTTP/1.1 without Host is a 400 (RFC 9112 §3.2, DESIGN §6)";

// clang-format off
const DeviationEntry kDeviations[] = {
    // --- corpus accepts, Tiercel refuses -----------------------------------------------------------
    {"llhttp_method_M_SEARCH_request", Deviation::kRefuse, ParseError::kBadRequest,
     "asterisk-form only with OPTIONS (RFC 9112 §3.2.4); M-SEARCH is SSDP, not HTTP"},
    {"llhttp_method_PRI_request_HTTP2", Deviation::kRefuse, ParseError::kBadRequest,
     "the HTTP/2 preface, which llhttp pauses on, is no HTTP/1 request (\"*\" only with OPTIONS)"},
    {"llhttp_method_SOURCE_request_with_ICE", Deviation::kRefuse, ParseError::kBadRequest,
     "only HTTP-version is accepted; ICE/1.0 is Icecast's protocol"},
    {"llhttp_method_OPTIONS_request_with_RTSP", Deviation::kRefuse, ParseError::kBadRequest,
     "only HTTP-version is accepted; RTSP/1.0 is another protocol"},
    {"llhttp_method_ANNOUNCE_request_with_RTSP", Deviation::kRefuse, ParseError::kBadRequest,
     "only HTTP-version is accepted; RTSP/1.0 is another protocol"},
    {"llhttp_sample_No_HTTP_version", Deviation::kRefuse, ParseError::kBadRequest,
     "HTTP/0.9 request line without a version"},
    {"llhttp_transfer_encoding_POST_with_chunked_as_last_transfer_encoding", Deviation::kRefuse,
     ParseError::kNotImplemented, "\"deflate, chunked\": Tiercel decodes no coding but chunked (RFC 9112 §6.1)"},
    {"llhttp_transfer_encoding_POST_with_chunked_as_last_transfer_encoding_multiple_headers", Deviation::kRefuse,
     ParseError::kBadRequest, "Transfer-Encoding repeated on two field lines (DESIGN §6)"},
    {"gunicorn_valid_009", Deviation::kRefuse, ParseError::kBadRequest,
     "Content-Length with Transfer-Encoding (DESIGN §6)"},
    {"gunicorn_valid_025", Deviation::kRefuse, ParseError::kBadRequest,
     "Transfer-Encoding repeated on two field lines (DESIGN §6)"},
    {"gunicorn_valid_025_line", Deviation::kRefuse, ParseError::kNotImplemented,
     "\"gzip,chunked\": Tiercel decodes no coding but chunked"},
    {"gunicorn_valid_027", Deviation::kRefuse, ParseError::kBadRequest, "bytes >= 0x80 in the request-target"},
    {"gunicorn_valid_028", Deviation::kRefuse, ParseError::kBadRequest,
     "whitespace before a header colon (RFC 9112 §5.1, DESIGN §6)"},
    {"gunicorn_valid_029", Deviation::kRefuse, ParseError::kBadRequest,
     "Transfer-Encoding repeated on two field lines (DESIGN §6)"},
    {"gunicorn_valid_030", Deviation::kRefuse, ParseError::kBadRequest,
     "Transfer-Encoding repeated on two field lines (DESIGN §6)"},
    {"gunicorn_valid_compat_obs_fold", Deviation::kRefuse, ParseError::kBadRequest, "obs-fold (DESIGN §6)"},
    {"gunicorn_valid_compat_obs_fold_huge", Deviation::kRefuse, ParseError::kBadRequest, "obs-fold (DESIGN §6)"},
    {"gunicorn_valid_pp_01", Deviation::kRefuse, ParseError::kBadRequest,
     "PROXY protocol v1 line: a connection option outside the HTTP parser"},
    {"gunicorn_valid_pp_02", Deviation::kRefuse, ParseError::kBadRequest,
     "PROXY protocol v1 line: a connection option outside the HTTP parser"},
    {"gunicorn_valid_pp_04", Deviation::kRefuse, ParseError::kBadRequest,
     "PROXY protocol v2 header: a connection option outside the HTTP parser"},
    {"gunicorn_valid_pp_05", Deviation::kRefuse, ParseError::kBadRequest,
     "PROXY protocol v2 header: a connection option outside the HTTP parser"},
    {"gunicorn_valid_rfc9112_smuggle_gzip_chunked_01", Deviation::kRefuse, ParseError::kNotImplemented,
     "\"gzip, chunked\": Tiercel decodes no coding but chunked"},
    {"gunicorn_valid_rfc9112_smuggle_te_identity_chunked_01", Deviation::kRefuse, ParseError::kNotImplemented,
     "\"identity, chunked\": identity is no longer a transfer coding (RFC 9112 removed it)"},

    // --- corpus refuses, Tiercel accepts (a Host line added where missing) -------------------------
    {"llhttp_invalid_HTTP_protocol_and_ANNOUNCE_method", Deviation::kAccept, ParseError::kNone,
     "any token is a method; the router answers 501 for methods it does not know"},
    {"llhttp_invalid_Invalid_method", Deviation::kAccept, ParseError::kNone,
     "MKCOLA is a token; the router answers 501 for methods it does not know"},
    {"gunicorn_invalid_003c", Deviation::kAccept, ParseError::kNone,
     "\"-bl\" is a token method (gunicorn wants upper case); the router decides"},
    {"gunicorn_invalid_006", Deviation::kAccept, ParseError::kNone,
     "4 KiB request line: over gunicorn's test limit, under Tiercel's 8 KiB"},
    {"gunicorn_invalid_007", Deviation::kAccept, ParseError::kNone,
     "8 KiB field line: over gunicorn's per-field limit, under Tiercel's 64 KiB header section"},
    {"gunicorn_invalid_008", Deviation::kAccept, ParseError::kNone,
     "8 KiB field line: over gunicorn's per-field limit, under Tiercel's 64 KiB header section"},
    {"gunicorn_invalid_010", Deviation::kAccept, ParseError::kNone,
     "gunicorn's test sets limit_request_field_size to 10; Tiercel has no per-field limit"},
    {"gunicorn_invalid_011", Deviation::kAccept, ParseError::kNone,
     "over a field limit gunicorn's test sets low; within Tiercel's defaults"},
    {"gunicorn_invalid_012", Deviation::kAccept, ParseError::kNone,
     "over a field limit gunicorn's test sets low; within Tiercel's defaults"},
    {"gunicorn_invalid_017", Deviation::kAccept, ParseError::kNone,
     "8 KiB field line: over gunicorn's per-field limit, under Tiercel's 64 KiB header section"},
    {"gunicorn_invalid_limit_header_default_01", Deviation::kAccept, ParseError::kNone,
     "8190-byte field line: gunicorn's default per-field limit, under Tiercel's 64 KiB header section"},
    {"gunicorn_invalid_019", Deviation::kAccept, ParseError::kNone,
     "trusting X-Forwarded-* is a proxy setting, not a parsing rule"},
    {"gunicorn_invalid_040", Deviation::kAccept, ParseError::kNone,
     "'_' is a tchar and field names are kept as sent (no CGI folding of '_' into '-')"},
    {"gunicorn_invalid_chunked_07", Deviation::kAccept, ParseError::kNone,
     "'_' is a tchar; Transfer_Encoding is an ordinary field, not Transfer-Encoding"},

    // --- corpus refuses, Tiercel waits for the rest of the message ---------------------------------
    {"llhttp_invalid_Invalid_HTTP_version", Deviation::kWait, ParseError::kNone,
     "input ends after \"HTTP/5.6\": the version is judged at its line end (HTTP/5.67 is 400, HTTP/5.6 505)"},
    {"gunicorn_invalid_001", Deviation::kWait, ParseError::kNone,
     "the head never ends: wait, then close on EOF without a response (corpus README)"},
    {"gunicorn_invalid_rfc9112_chunked_missing_final_crlf_01", Deviation::kWait, ParseError::kNone,
     "the input ends before the trailer section's CRLF: a truncated body, closed at EOF"},

    // --- features of the corpus's harness ----------------------------------------------------------
    {"llhttp_content_length_Content_Length_reset_when_no_body_is_received", Deviation::kSkip, ParseError::kNone,
     "skipBody: llhttp's callback drops a Content-Length body; on the wire the next request is that body"},

    // --- HTTP/1.1 without Host: refused as is; with a Host line added everything else matches ------
    {"llhttp_connection_Setting_flag", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_connection_Restarting_when_keep_alive_is_explicitly", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_connection_Setting_flag_on_close", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_connection_Setting_flag_on_close_followed_by_tab", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_connection_Sample", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_connection_Multiple_tokens_with_folding_and_LWS", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_connection_Setting_a_flag_and_pausing", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_connection_Emitting_part_of_body_and_pausing", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_content_length_Content_Length_with_zeroes", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_content_length_Content_Length_with_follow_up_headers", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_content_length_Spaces_in_Content_Length_surrounding", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_content_length_Tabs_in_Content_Length_surrounding", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_method_REPORT_request", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pausing_on_message_begin", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pausing_on_message_complete", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pausing_on_protocol_complete", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pausing_on_method_complete", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pausing_on_url_complete", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pausing_on_version_complete", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pausing_on_header_field_complete", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pausing_on_header_value_complete", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pausing_on_headers_complete", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pausing_on_chunk_header", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pausing_on_chunk_extension_name", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pausing_on_chunk_extension_value", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pausing_on_chunk_complete", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_pipelining_Should_parse_multiple_events", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_sample_Simple_request", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_sample_Request_with_method_starting_with_H", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_sample_DUMBPACK", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_sample_No_headers_and_no_body", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_sample_One_header_and_no_body", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_sample_Prefix_newline", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_sample_Request_starting_with_CRLF", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_sample_Extended_Characters", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_sample_255_ASCII_in_header_value", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_transfer_encoding_Parsing_and_setting_flag", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_transfer_encoding_Parse_chunks_with_lowercase_size", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_transfer_encoding_Parse_chunks_with_uppercase_size", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_transfer_encoding_POST_with_Transfer_Encoding_chunked", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_transfer_encoding_Two_chunks_and_triple_zero_prefixed_end_chunk", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_transfer_encoding_Trailing_headers", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_transfer_encoding_Chunk_extensions", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_transfer_encoding_Chunk_extensions_quoting", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_uri_Quotes_in_URI", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_uri_Query_URL_with_question_mark", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_uri_Host_terminated_by_a_query_string", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_uri_host_port_terminated_by_a_query_string", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_uri_Query_URL_with_vertical_bar_character", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_uri_host_port_terminated_by_a_space", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_uri_Fragment_in_URI", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"llhttp_uri_host_port_and_basic_auth", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_004", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_005", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_006", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_007", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_010", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_011", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_012", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_013", Deviation::kRefuse, ParseError::kBadRequest,
     "whitespace after ';' in chunk extensions: refused like llhttp (strict); no Host either"},
    {"gunicorn_valid_014", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_018", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_021", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_022", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_023", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_031", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_031compat", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_031compat2", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
    {"gunicorn_valid_100", Deviation::kNeedsHost, ParseError::kNone, kNoHost},
};
// clang-format on

const DeviationEntry* find_deviation(std::string_view name) {
  for (const DeviationEntry& d : kDeviations) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------------
// Cases

/// A span from an llhttp log: its byte length always, its bytes when the log shows them unambiguously.
struct Span {
  size_t len = 0;
  std::optional<std::string> bytes;
};

/// One message as llhttp's log describes it.
struct ExpectedMessage {
  std::optional<Span> method;
  std::optional<Span> url;
  std::vector<std::pair<std::string, Span>> headers;
  std::vector<std::pair<std::string, Span>> trailers;
  std::string body;  // concatenated body spans
  bool body_exact = true;
  bool head_complete = false;
};

struct CorpusCase {
  std::string name;    ///< gtest-safe unique name
  std::string origin;  ///< file and heading, for failure messages
  std::string input;
  bool corpus_accepts = false;
  bool has_log = false;  ///< llhttp cases carry the parsed spans
  std::vector<ExpectedMessage> messages;
  std::string corpus_error;  ///< llhttp's error line, for messages
};

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Expands `\r \n \t \f \0 \xHH` (the subset `allowed` lists); other backslashes stay literal.
/// With `x_as_utf8`, \xHH above 0x7f becomes the UTF-8 encoding of U+00HH: llhttp's harness builds a
/// JavaScript string and sends it as UTF-8 (its logged offsets count two bytes for "\xff").
std::string unescape(std::string_view s, std::string_view allowed, bool x_as_utf8 = false) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && allowed.find(s[i + 1]) != std::string_view::npos) {
      const char c = s[i + 1];
      if (c == 'x' && i + 3 < s.size() && hex_digit(s[i + 2]) >= 0 && hex_digit(s[i + 3]) >= 0) {
        const int v = hex_digit(s[i + 2]) * 16 + hex_digit(s[i + 3]);
        if (x_as_utf8 && v >= 0x80) {
          out.push_back(static_cast<char>(0xc0 | (v >> 6)));
          out.push_back(static_cast<char>(0x80 | (v & 0x3f)));
        } else {
          out.push_back(static_cast<char>(v));
        }
        i += 3;
        continue;
      }
      if (c != 'x') {
        out.push_back(c == 'r' ? '\r' : c == 'n' ? '\n' : c == 't' ? '\t' : c == 'f' ? '\f' : '\0');
        ++i;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

/// "Chunk extensions (lenient)" -> "Chunk_extensions_lenient".
std::string sanitize(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      out.push_back(c);
    } else if (!out.empty() && out.back() != '_') {
      out.push_back('_');
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

/// Parses `off=N len=L span[kind]="value"` (or `=cr` / `=lf`).
bool parse_span_line(const std::string& line, std::string& kind, Span& span) {
  const size_t len_at = line.find(" len=");
  const size_t kind_at = line.find(" span[");
  if (len_at == std::string::npos || kind_at == std::string::npos) return false;
  span.len = std::stoul(line.substr(len_at + 5));
  const size_t kind_end = line.find(']', kind_at);
  kind = line.substr(kind_at + 6, kind_end - kind_at - 6);
  const std::string value = line.substr(kind_end + 2);
  if (value == "cr") {
    span.bytes = "\r";
  } else if (value == "lf") {
    span.bytes = "\n";
  } else if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    const std::string inner = value.substr(1, value.size() - 2);
    // The log escapes control bytes but neither quotes nor backslashes, and re-encodes non-ASCII
    // bytes; only a reading whose length matches `len` is trusted.
    const std::string escaped = unescape(inner, "rntf");
    if (escaped.size() == span.len) span.bytes = escaped;
    else if (inner.size() == span.len) span.bytes = inner;
  }
  return true;
}

/// Reads one llhttp log block into messages and the final error line.
void parse_log(const std::vector<std::string>& log, CorpusCase& c) {
  ExpectedMessage* msg = nullptr;
  bool in_trailers = false;
  for (const std::string& line : log) {
    if (line.find(" message begin") != std::string::npos) {
      c.messages.emplace_back();
      msg = &c.messages.back();
      in_trailers = false;
      continue;
    }
    if (msg == nullptr) continue;
    if (line.find(" headers complete") != std::string::npos) {
      msg->head_complete = true;
    } else if (line.find(" chunk header len=0") != std::string::npos) {
      in_trailers = true;
    } else if (line.find(" error code=") != std::string::npos) {
      c.corpus_error = line;
    } else {
      std::string kind;
      Span span;
      if (!parse_span_line(line, kind, span)) continue;
      auto& fields = in_trailers ? msg->trailers : msg->headers;
      if (kind == "method") {
        msg->method = span;
      } else if (kind == "url") {
        msg->url = span;
      } else if (kind == "header_field") {
        fields.emplace_back(span.bytes.value_or(""), Span{0, std::string()});
      } else if (kind == "header_value" && !fields.empty()) {
        Span& v = fields.back().second;
        v.len += span.len;
        if (v.bytes && span.bytes) *v.bytes += *span.bytes;
        else v.bytes.reset();
      } else if (kind == "body") {
        if (span.bytes) msg->body += *span.bytes;
        else msg->body_exact = false;
      }
    }
  }
}

/// llhttp errors that are pauses or "connection closed" rather than a refusal of the input:
/// 5 = data after `Connection: close`, 21 = paused, 22 = paused for CONNECT/Upgrade, 23 = PRI.
bool llhttp_refused(const std::string& error_line) {
  if (error_line.empty()) return false;
  const int code = std::stoi(error_line.substr(error_line.find("code=") + 5));
  return code != 5 && code != 21 && code != 22 && code != 23;
}

void load_llhttp_file(const fs::path& path, std::vector<CorpusCase>& out) {
  const std::vector<std::string> lines = split_lines(read_file(path));
  const std::string stem = path.stem().string();
  std::string heading;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (!line.empty() && line[0] == '#') {
      heading = line.substr(line.find_first_not_of("# "));
      continue;
    }
    if (line.rfind("<!-- meta=", 0) != 0) continue;
    // Only plain "request" cases; other types opt into lenient modes, responses or URL parsing.
    const size_t type_at = line.find("\"type\"");
    if (type_at == std::string::npos) continue;
    const size_t q1 = line.find('"', line.find(':', type_at));
    const size_t q2 = line.find('"', q1 + 1);
    if (line.substr(q1 + 1, q2 - q1 - 1) != "request") continue;

    CorpusCase c;
    c.origin = path.filename().string() + ": " + heading;
    c.has_log = true;
    size_t j = i + 1;
    while (j < lines.size() && lines[j].rfind("```http", 0) != 0) ++j;
    std::vector<std::string> block;
    for (++j; j < lines.size() && lines[j] != "```"; ++j) block.push_back(lines[j]);
    // A line ending in a backslash continues on the next line without a line break.
    std::string raw;
    for (size_t k = 0; k < block.size(); ++k) {
      const std::string& b = block[k];
      if (!b.empty() && b.back() == '\\') {
        raw += b.substr(0, b.size() - 1);
      } else {
        raw += b;
        if (k + 1 < block.size()) raw += "\r\n";
      }
    }
    c.input = unescape(raw, "rntfx", /*x_as_utf8=*/true);
    while (j < lines.size() && lines[j].rfind("```log", 0) != 0) ++j;
    std::vector<std::string> log;
    for (++j; j < lines.size() && lines[j] != "```"; ++j) log.push_back(lines[j]);
    parse_log(log, c);
    c.corpus_accepts = !llhttp_refused(c.corpus_error);
    c.name = "llhttp_" + sanitize(stem) + "_" + sanitize(heading);
    out.push_back(std::move(c));
    i = j;
  }
}

void load_gunicorn_dir(const fs::path& dir, bool valid, std::vector<CorpusCase>& out) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".http") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& p : files) {
    CorpusCase c;
    std::string text = read_file(p);
    // Real newlines are layout only; the request's bytes are written as escapes.
    text.erase(std::remove(text.begin(), text.end(), '\n'), text.end());
    c.input = unescape(text, "rnt0x");
    c.corpus_accepts = valid;
    c.origin = "gunicorn/" + std::string(valid ? "valid/" : "invalid/") + p.filename().string();
    c.name = "gunicorn_" + std::string(valid ? "valid_" : "invalid_") + sanitize(p.stem().string());
    out.push_back(std::move(c));
  }
}

std::vector<CorpusCase> load_all() {
  std::vector<CorpusCase> cases;
  const fs::path root(TIERCEL_CORPORA_DIR);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return cases;
  std::vector<fs::path> md;
  for (const auto& e : fs::directory_iterator(root / "llhttp")) {
    if (e.path().extension() == ".md") md.push_back(e.path());
  }
  std::sort(md.begin(), md.end());
  for (const fs::path& p : md) load_llhttp_file(p, cases);
  load_gunicorn_dir(root / "gunicorn" / "valid", true, cases);
  load_gunicorn_dir(root / "gunicorn" / "invalid", false, cases);
  // Headings repeat within a file ("LINK request" twice): number the repeats.
  std::map<std::string, int> seen;
  for (CorpusCase& c : cases) {
    const int n = ++seen[c.name];
    if (n > 1) c.name += "_" + std::to_string(n);
  }
  return cases;
}

const std::vector<CorpusCase>& all_cases() {
  static const std::vector<CorpusCase> cases = load_all();
  return cases;
}

// ---------------------------------------------------------------------------------------------------
// Driving a whole input like a connection would

constexpr std::string_view kInjectedHost = "corpus.test";

/// One request as Tiercel parsed it, copied out of the buffer.
struct Message {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> trailers;
  std::string body;
};

enum class Outcome : uint8_t { kAccepted, kRefused, kTruncated };

const char* outcome_name(Outcome o) {
  return o == Outcome::kAccepted ? "accepted" : o == Outcome::kRefused ? "refused" : "truncated (waits)";
}

struct DriveResult {
  Outcome outcome = Outcome::kAccepted;
  ParseError err = ParseError::kNone;
  std::vector<Message> messages;
};

bool istarts_with(std::string_view s, std::string_view lower_prefix) {
  if (s.size() < lower_prefix.size()) return false;
  for (size_t i = 0; i < lower_prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != lower_prefix[i]) return false;
  }
  return true;
}

/// Adds "Host: corpus.test" after the HTTP/1.1 request line starting at `off` when that head has
/// no Host line, so that cases written without Host still test everything else.
void inject_host(std::string& input, size_t off) {
  if (input.compare(off, 2, "\r\n") == 0) off += 2;
  const size_t eol = input.find("\r\n", off);
  if (eol == std::string::npos || eol < off + 8 || input.compare(eol - 8, 8, "HTTP/1.1") != 0) return;
  size_t line = eol + 2;
  while (line < input.size()) {
    const size_t next = input.find("\r\n", line);
    if (next == line || next == std::string::npos) break;
    if (istarts_with(std::string_view(input).substr(line), "host:")) return;
    line = next + 2;
  }
  input.insert(eol + 2, "Host: " + std::string(kInjectedHost) + "\r\n");
}

/// Parses every pipelined request of `input` (head, then body by Content-Length or chunked) until
/// the bytes are used up, the connection would close, or it switches protocol.
DriveResult drive(std::string input, bool add_host) {
  DriveResult run;
  const Limits limits;
  RequestHead head;
  ChunkedDecoder decoder;
  size_t off = 0;
  while (off < input.size()) {
    if (add_host) inject_host(input, off);
    const std::string_view rest = std::string_view(input).substr(off);
    ParseError err = ParseError::kNone;
    const ParseStatus st = parse_head(rest, limits, head, err);
    if (st == ParseStatus::kIncomplete) {
      run.outcome = Outcome::kTruncated;
      return run;
    }
    if (st == ParseStatus::kError) {
      run.outcome = Outcome::kRefused;
      run.err = err;
      return run;
    }
    Message m;
    m.method = head.method;
    m.target = head.target;
    for (const Header& h : head.headers) {
      if (add_host && h.value == kInjectedHost) continue;
      m.headers.emplace_back(h.name, h.value);
    }
    off += head.head_size;
    // After CONNECT the bytes belong to the tunnel.
    if (head.method == "CONNECT") {
      run.messages.push_back(std::move(m));
      return run;
    }
    if (head.framing == BodyFraming::kContentLength) {
      const size_t avail = std::min<uint64_t>(head.content_length, input.size() - off);
      m.body = input.substr(off, avail);
      off += avail;
      if (avail < head.content_length) {
        run.messages.push_back(std::move(m));
        run.outcome = Outcome::kTruncated;
        return run;
      }
    } else if (head.framing == BodyFraming::kChunked) {
      decoder.reset();
      size_t used = 0;
      const ParseStatus bs = decoder.feed(std::string_view(input).substr(off), limits, m.body, used, err);
      m.trailers = decoder.trailers();
      if (bs == ParseStatus::kError) {
        run.outcome = Outcome::kRefused;
        run.err = err;
        return run;
      }
      if (bs == ParseStatus::kIncomplete) {
        run.messages.push_back(std::move(m));
        run.outcome = Outcome::kTruncated;
        return run;
      }
      off += used;
    }
    const bool stop = head.upgrade || !head.keep_alive;
    run.messages.push_back(std::move(m));
    if (stop) return run;
  }
  return run;
}

// ---------------------------------------------------------------------------------------------------
// Checks

std::string trim_trailing_ows(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

void expect_span(const std::optional<Span>& want, const std::string& got, const char* what) {
  if (!want) return;
  EXPECT_EQ(got.size(), want->len) << what;
  if (want->bytes) {
    EXPECT_EQ(got, *want->bytes) << what;
  }
}

void expect_fields(const std::vector<std::pair<std::string, Span>>& want,
                   const std::vector<std::pair<std::string, std::string>>& got, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first) << what << " #" << i;
    // llhttp's value span keeps trailing whitespace; Tiercel's value has it trimmed.
    if (want[i].second.bytes) {
      EXPECT_EQ(got[i].second, trim_trailing_ows(*want[i].second.bytes)) << what << " #" << i;
    }
  }
}

/// Compares Tiercel's messages with those llhttp logged.
void expect_messages(const CorpusCase& c, const DriveResult& run) {
  std::vector<const ExpectedMessage*> heads;
  for (const ExpectedMessage& m : c.messages) {
    if (m.head_complete) heads.push_back(&m);
  }
  ASSERT_EQ(run.messages.size(), heads.size()) << "number of parsed heads";
  for (size_t i = 0; i < heads.size(); ++i) {
    SCOPED_TRACE("message " + std::to_string(i));
    const ExpectedMessage& want = *heads[i];
    const Message& got = run.messages[i];
    expect_span(want.method, got.method, "method");
    expect_span(want.url, got.target, "url");
    expect_fields(want.headers, got.headers, "headers");
    expect_fields(want.trailers, got.trailers, "trailers");
    if (want.body_exact) {
      EXPECT_EQ(got.body, want.body) << "body";
    }
  }
}

void expect_accepted(const CorpusCase& c, const DriveResult& run) {
  EXPECT_NE(run.outcome, Outcome::kRefused) << describe(run.err);
  if (run.outcome == Outcome::kRefused) return;
  if (c.has_log) {
    expect_messages(c, run);
  } else {
    EXPECT_FALSE(run.messages.empty()) << "no complete request head";
  }
}

/// Test parameters print as their origin instead of a byte dump.
void PrintTo(const CorpusCase& c, std::ostream* os) { *os << c.origin; }

class CorpusTest : public ::testing::TestWithParam<CorpusCase> {};

TEST_P(CorpusTest, MatchesCorpusOrDocumentedDeviation) {
  const CorpusCase& c = GetParam();
  SCOPED_TRACE(c.origin + (c.corpus_error.empty() ? "" : " (llhttp: " + c.corpus_error + ")"));
  const DeviationEntry* dev = find_deviation(c.name);
  const DriveResult plain = drive(c.input, /*add_host=*/false);
  const std::string got = std::string(outcome_name(plain.outcome)) +
                          (plain.outcome == Outcome::kRefused ? std::string(": ") + std::string(describe(plain.err)) : "");

  if (dev == nullptr) {
    if (c.corpus_accepts) {
      expect_accepted(c, plain);
    } else {
      EXPECT_EQ(plain.outcome, Outcome::kRefused) << "corpus refuses, Tiercel: " << got;
      // A refusal that only comes from the missing Host hides a real difference: list it.
      const DriveResult with_host = drive(c.input, /*add_host=*/true);
      EXPECT_EQ(with_host.outcome, Outcome::kRefused) << "refused only for the missing Host; list it in kDeviations";
    }
    return;
  }
  switch (dev->kind) {
    case Deviation::kNeedsHost: {
      ASSERT_TRUE(c.corpus_accepts) << "stale deviation entry";
      EXPECT_EQ(plain.outcome, Outcome::kRefused) << got;
      EXPECT_EQ(plain.err, ParseError::kBadRequest) << got;
      expect_accepted(c, drive(c.input, /*add_host=*/true));
      break;
    }
    case Deviation::kRefuse: {
      ASSERT_TRUE(c.corpus_accepts) << "stale deviation entry";
      EXPECT_EQ(plain.outcome, Outcome::kRefused) << got;
      // With a Host added, so that the status is the one the entry is about.
      const DriveResult with_host = drive(c.input, /*add_host=*/true);
      EXPECT_EQ(with_host.outcome, Outcome::kRefused);
      EXPECT_EQ(with_host.err, dev->err) << describe(with_host.err);
      break;
    }
    case Deviation::kAccept: {
      ASSERT_FALSE(c.corpus_accepts) << "stale deviation entry";
      const DriveResult with_host = drive(c.input, /*add_host=*/true);
      EXPECT_NE(with_host.outcome, Outcome::kRefused) << describe(with_host.err);
      break;
    }
    case Deviation::kWait:
      ASSERT_FALSE(c.corpus_accepts) << "stale deviation entry";
      EXPECT_EQ(plain.outcome, Outcome::kTruncated) << got;
      break;
    case Deviation::kSkip:
      GTEST_SKIP() << dev->reason;
  }
}

INSTANTIATE_TEST_SUITE_P(Corpora, CorpusTest, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<CorpusCase>& info) { return info.param.name; });

TEST(Corpora, Loaded) {
  const auto& cases = all_cases();
  ASSERT_FALSE(cases.empty()) << "no corpus found at " << TIERCEL_CORPORA_DIR;
  size_t llhttp = 0;
  for (const CorpusCase& c : cases) llhttp += c.has_log ? 1 : 0;
  EXPECT_GT(llhttp, 100u);
  EXPECT_GT(cases.size() - llhttp, 130u);
}

TEST(Corpora, EveryDeviationNamesOneCaseOnce) {
  std::map<std::string, int> listed;
  for (const DeviationEntry& d : kDeviations) EXPECT_EQ(++listed[d.name], 1) << "listed twice: " << d.name;
  for (const DeviationEntry& d : kDeviations) {
    const auto& cases = all_cases();
    const bool found = std::any_of(cases.begin(), cases.end(), [&](const CorpusCase& c) { return c.name == d.name; });
    EXPECT_TRUE(found) << d.name;
  }
}

}  // namespace
}  // namespace tiercel::http1
