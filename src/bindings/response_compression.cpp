// Response compression: the answers that qualify, negotiated by Accept-Encoding q-values.
#include "bindings/response_compression.h"

#include "bindings/request.h"
#include "core/cors.h"
#include "core/response_writer.h"
#include "core/field_syntax.h"

namespace tiercel::py {

std::unique_ptr<ResponseCompression> ResponseCompression::make(size_t min_size, std::vector<std::string> types,
                                                               const std::vector<std::string>& codings, int level) {
  auto c = std::make_unique<ResponseCompression>();
  c->min_size = min_size;
  c->types = std::move(types);
  c->level = level;
  for (auto& name : codings) {
    bool found = false;
    for (Coding k : available_codings()) {
      if (coding_name(k) == name) {
        c->codings.push_back(k);
        found = true;
      }
    }
    if (!found) throw nb::value_error(("this build cannot compress with '" + name + "'").c_str());
  }
  return c;
}

std::string ResponseCompression::apply(const Rendered& r, nb::handle request, std::string& out) const {
  if (r.body.size() < min_size || r.status < 200 || r.status == 204 || r.status == 304) return {};
  if (find_field(r.header_lines, "content-encoding")) return {};  // already encoded
  std::string_view type;
  find_field(r.header_lines, "content-type", &type);
  type = type.substr(0, type.find(';'));
  bool allowed = false;
  for (auto& t : types) {
    allowed = allowed || (!t.empty() && t.back() == '/' ? type.substr(0, t.size()) == t : ascii_iequal(type, t));
  }
  if (!allowed) return {};
  std::string lines = "Vary: Accept-Encoding\r\n";  // the answer depends on it, compressed or not
  const Request* req = request ? nb::inst_ptr<Request>(request) : nullptr;
  const std::string_view* accept = req && req->headers ? find_header(*req->headers, "accept-encoding") : nullptr;
  if (!accept) return lines;
  Coding coding = negotiate(*accept, codings);
  if (coding == Coding::kIdentity || !tiercel::compress(r.body, coding, level, out) || out.size() >= r.body.size()) {
    out.clear();
    return lines;
  }
  return lines + "Content-Encoding: " + std::string(coding_name(coding)) + "\r\n";
}

}  // namespace tiercel::py
