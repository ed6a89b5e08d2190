// Runs every case of the project's parser table, tests/request_cases.txt (its header explains the format),
// through the core parser the way a connection would, and checks the verdict the table expects: accepted
// (so many requests, and the checks about the first one), refused with a status, or waiting for more bytes.
// tests/test_parser_differential.py reads the same table and compares it with httptools and h11.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/http1_parser.h"

#ifndef TIERCEL_REQUEST_CASES
#error "TIERCEL_REQUEST_CASES must name tests/request_cases.txt"
#endif

namespace tiercel::http1 {
namespace {

// ---------------------------------------------------------------------------------------------------
// Reading the table

enum class Kind : uint8_t { kAccept, kRefuse, kIncomplete };

struct Case {
  std::string id;
  Kind kind = Kind::kAccept;
  int requests = 0;  ///< accept N, or the N of "refuse S after N" / "incomplete after N"
  int status = 0;    ///< for kRefuse
  std::string rfc;
  std::string what;
  std::string input;
  std::vector<std::pair<std::string, std::string>> checks;  ///< (key, value) about the first request
  int line = 0;
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// The table's escapes: \r \n \t \0 \\ \| \xHH, and \{N:text} for `text` repeated N times.
std::string unescape(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c != '\\') {
      if (c < 0x20 || c > 0x7e) throw std::runtime_error("write byte " + std::to_string(uint8_t(c)) + " as an escape");
      out += c;
      ++i;
      continue;
    }
    const char e = i + 1 < text.size() ? text[i + 1] : '\0';
    switch (e) {
      case 'r': out += '\r'; i += 2; continue;
      case 'n': out += '\n'; i += 2; continue;
      case 't': out += '\t'; i += 2; continue;
      case '0': out += '\0'; i += 2; continue;
      case '\\': out += '\\'; i += 2; continue;
      case '|': out += '|'; i += 2; continue;
      default: break;
    }
    if (e == 'x' && i + 3 < text.size() && hex_digit(text[i + 2]) >= 0 && hex_digit(text[i + 3]) >= 0) {
      out += static_cast<char>(hex_digit(text[i + 2]) * 16 + hex_digit(text[i + 3]));
      i += 4;
      continue;
    }
    if (e == '{') {
      const size_t colon = text.find(':', i + 2);
      const size_t close = text.find('}', i + 2);
      const std::string_view count = text.substr(i + 2, colon - i - 2);
      if (colon == std::string_view::npos || close == std::string_view::npos || close < colon || count.empty() ||
          !std::all_of(count.begin(), count.end(), [](char d) { return d >= '0' && d <= '9'; })) {
        throw std::runtime_error("bad repeat escape");
      }
      const std::string piece = unescape(text.substr(colon + 1, close - colon - 1));
      for (int n = std::stoi(std::string(count)); n > 0; --n) out += piece;
      i = close + 1;
      continue;
    }
    throw std::runtime_error("unknown escape at " + std::string(text.substr(i, 8)));
  }
  return out;
}

std::vector<std::string> split(std::string_view s, std::string_view sep) {
  std::vector<std::string> parts;
  size_t from = 0;
  while (true) {
    const size_t at = s.find(sep, from);
    parts.emplace_back(s.substr(from, at == std::string_view::npos ? std::string_view::npos : at - from));
    if (at == std::string_view::npos) return parts;
    from = at + sep.size();
  }
}

/// "accept N", "refuse S [after N]", "incomplete [after N]".
void parse_expect(const std::string& expect, Case& c) {
  std::istringstream in(expect);
  std::string word;
  in >> word;
  if (word == "accept") {
    c.kind = Kind::kAccept;
    if (!(in >> c.requests)) throw std::runtime_error("accept needs a count");
  } else if (word == "refuse") {
    c.kind = Kind::kRefuse;
    if (!(in >> c.status) || c.status < 400 || c.status > 599) throw std::runtime_error("refuse needs a status");
  } else if (word == "incomplete") {
    c.kind = Kind::kIncomplete;
  } else {
    throw std::runtime_error("bad expect: " + expect);
  }
  if (c.kind != Kind::kAccept && in >> word) {
    if (word != "after" || !(in >> c.requests)) throw std::runtime_error("bad expect: " + expect);
  }
  if (in >> word) throw std::runtime_error("bad expect: " + expect);
}

Case parse_case(const std::string& line) {
  const std::vector<std::string> f = split(line, " | ");
  if (f.size() != 5 && f.size() != 6) throw std::runtime_error("want: id | expect | rfc | what | bytes [| checks]");
  Case c;
  c.id = f[0];
  const bool id_ok = !c.id.empty() && std::islower(static_cast<unsigned char>(c.id[0])) &&
                     c.id.find('.') != std::string::npos &&
                     std::all_of(c.id.begin(), c.id.end(), [](char ch) {
                       return std::islower(static_cast<unsigned char>(ch)) ||
                              std::isdigit(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.';
                     });
  if (!id_ok) throw std::runtime_error("bad id " + c.id);
  parse_expect(f[1], c);
  c.rfc = f[2];
  c.what = f[3];
  c.input = unescape(f[4]);
  if (f.size() == 6) {
    static const std::set<std::string> kKeys = {"method", "target", "version", "body", "close", "header", "headers"};
    for (const std::string& item : split(f[5], " ")) {
      const size_t eq = item.find('=');
      if (eq == std::string::npos || !kKeys.count(item.substr(0, eq)) || c.kind != Kind::kAccept) {
        throw std::runtime_error("bad check " + item + " (checks are key=value, for accepted cases)");
      }
      c.checks.emplace_back(item.substr(0, eq), unescape(item.substr(eq + 1)));
    }
  }
  return c;
}

/// Every case in file order; a malformed line or a repeated id fails the Table.Loads test.
struct Table {
  std::vector<Case> cases;
  std::string error;
};

Table load_table() {
  Table t;
  std::ifstream in(TIERCEL_REQUEST_CASES, std::ios::binary);
  if (!in) {
    t.error = "cannot open " + std::string(TIERCEL_REQUEST_CASES);
    return t;
  }
  std::set<std::string> ids;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    try {
      Case c = parse_case(line);
      c.line = n;
      if (!ids.insert(c.id).second) throw std::runtime_error("id " + c.id + " repeated");
      t.cases.push_back(std::move(c));
    } catch (const std::exception& e) {
      t.error += "request_cases.txt:" + std::to_string(n) + ": " + e.what() + "\n";
    }
  }
  return t;
}

const Table& table() {
  static const Table t = load_table();
  return t;
}

// ---------------------------------------------------------------------------------------------------
// Driving a whole input like a connection would (as the `_core.parse_requests` test hook does)

struct Message {
  std::string method;
  std::string target;
  int version_minor = 1;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool keep_alive = true;
};

struct Outcome {
  Kind kind = Kind::kAccept;
  int status = 0;
  std::vector<Message> messages;  ///< complete requests only
};

/// Parses pipelined requests (head, then body by Content-Length or chunked) until the bytes are used up
/// or a request closes the connection.
Outcome drive(std::string_view in) {
  Outcome run;
  const Limits limits;
  RequestHead head;
  ChunkedDecoder decoder;
  auto stop = [&run](Kind kind, ParseError err) {
    run.kind = kind;
    run.status = kind == Kind::kRefuse ? status_for(err) : 0;
    return run;
  };
  while (!in.empty()) {
    ParseError err = ParseError::kNone;
    const ParseStatus st = parse_head(in, limits, head, err);
    if (st == ParseStatus::kIncomplete) return stop(Kind::kIncomplete, err);
    if (st == ParseStatus::kError) return stop(Kind::kRefuse, err);
    Message m{std::string(head.method), std::string(head.target), head.version_minor, {}, {}, head.keep_alive};
    for (const Header& h : head.headers) m.headers.emplace_back(h.name, h.value);
    in.remove_prefix(head.head_size);
    if (head.framing == BodyFraming::kContentLength) {
      if (in.size() < head.content_length) return stop(Kind::kIncomplete, err);
      m.body = std::string(in.substr(0, static_cast<size_t>(head.content_length)));
      in.remove_prefix(static_cast<size_t>(head.content_length));
    } else if (head.framing == BodyFraming::kChunked) {
      decoder.reset();
      size_t used = 0;
      const ParseStatus bs = decoder.feed(in, limits, m.body, used, err);
      if (bs == ParseStatus::kError) return stop(Kind::kRefuse, err);
      if (bs == ParseStatus::kIncomplete) return stop(Kind::kIncomplete, err);
      in.remove_prefix(used);
    }
    run.messages.push_back(std::move(m));
    if (!head.keep_alive) break;  // a server stops reading after a request that closes the connection
  }
  // No complete request (an input of empty lines only) is still waiting for one.
  run.kind = run.messages.empty() ? Kind::kIncomplete : Kind::kAccept;
  return run;
}

// ---------------------------------------------------------------------------------------------------
// Checks

std::string verdict(Kind kind, int status, size_t requests) {
  std::string s = kind == Kind::kAccept ? "accept" : kind == Kind::kRefuse ? "refuse " + std::to_string(status)
                                                                          : "incomplete";
  return s + " after " + std::to_string(requests) + " request(s)";
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

void expect_check(const std::string& key, const std::string& want, const Message& m) {
  SCOPED_TRACE("check " + key + "=" + want);
  if (key == "method") {
    EXPECT_EQ(m.method, want);
  } else if (key == "target") {
    EXPECT_EQ(m.target, want);
  } else if (key == "version") {
    EXPECT_EQ(m.version_minor == 0 ? "1.0" : "1.1", want);
  } else if (key == "body") {
    EXPECT_EQ(m.body, want);
  } else if (key == "close") {
    EXPECT_EQ(m.keep_alive ? "no" : "yes", want);
  } else if (key == "headers") {
    EXPECT_EQ(std::to_string(m.headers.size()), want);
  } else if (key == "header") {
    const size_t colon = want.find(':');
    const std::string name = want.substr(0, colon);
    const auto it = std::find_if(m.headers.begin(), m.headers.end(),
                                 [&](const auto& h) { return iequals(h.first, name); });
    ASSERT_NE(it, m.headers.end()) << "no field " << name;
    EXPECT_EQ(it->second, want.substr(colon + 1));
  }
}

/// Test parameters print as their id and place instead of a byte dump.
void PrintTo(const Case& c, std::ostream* os) { *os << c.id << " (request_cases.txt:" << c.line << ")"; }

class RequestCase : public ::testing::TestWithParam<Case> {};

TEST_P(RequestCase, ParserGivesTheTablesVerdict) {
  const Case& c = GetParam();
  SCOPED_TRACE("request_cases.txt:" + std::to_string(c.line) + ": " + c.what + " (" + c.rfc + ")");
  const Outcome run = drive(c.input);
  EXPECT_EQ(verdict(run.kind, run.status, run.messages.size()), verdict(c.kind, c.status, c.requests));
  if (run.kind != Kind::kAccept || run.messages.empty()) return;
  for (const auto& [key, want] : c.checks) expect_check(key, want, run.messages.front());
}

INSTANTIATE_TEST_SUITE_P(Table, RequestCase, ::testing::ValuesIn(table().cases),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string name = info.param.id;
                           std::replace(name.begin(), name.end(), '.', '_');
                           return name;
                         });

TEST(RequestCases, TableLoadsWithItsBreadth) {
  const Table& t = table();
  ASSERT_EQ(t.error, "");
  EXPECT_GE(t.cases.size(), 400u);
  std::set<int> statuses;
  std::set<Kind> kinds;
  std::set<std::string> topics;
  for (const Case& c : t.cases) {
    kinds.insert(c.kind);
    if (c.kind == Kind::kRefuse) statuses.insert(c.status);
    topics.insert(c.id.substr(0, c.id.find('.')));
  }
  EXPECT_EQ(statuses, (std::set<int>{400, 413, 414, 431, 501, 505}));
  EXPECT_EQ(kinds.size(), 3u);
  EXPECT_GE(topics.size(), 15u);
}

TEST(RequestCases, UnescapeExpandsEveryEscape) {
  EXPECT_EQ(unescape("a\\r\\n\\t\\0\\\\\\|\\x7f\\xFFb"), std::string("a\r\n\t\0\\|\x7f\xff" "b", 10));
  EXPECT_EQ(unescape("<\\{3:ab\\r}>"), "<ab\rab\rab\r>");
  EXPECT_THROW(unescape("\\q"), std::runtime_error);
  EXPECT_THROW(unescape("\\{x:a}"), std::runtime_error);
  EXPECT_THROW(unescape("\xc3\xa9"), std::runtime_error);
}

}  // namespace
}  // namespace tiercel::http1
