// The parts of the Responder interface that every protocol shares.
#include "core/responder.h"

namespace tiercel {

std::string text_fields(std::string_view extra) {
  static constexpr std::string_view kType = "Content-Type: text/plain; charset=utf-8\r\n";
  std::string fields(kType);
  append_absent(fields, kType, extra);
  return fields;
}

}  // namespace tiercel
