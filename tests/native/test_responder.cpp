// GoogleTest suite for src/core/responder: what every protocol's answers share. The answers themselves are tested
// through the connections that implement the interface (test_http1_connection, test_streams_and_files,
// test_http2).
#include <gtest/gtest.h>

#include "core/responder.h"

namespace tiercel {
namespace {

TEST(Responder, TextFieldsPutTheirContentTypeFirstAndKeepTheOthers) {
  EXPECT_EQ(text_fields(""), "Content-Type: text/plain; charset=utf-8\r\n");
  EXPECT_EQ(text_fields("X-Why: size\r\nContent-Type: text/html\r\nVary: Origin\r\n"),
            "Content-Type: text/plain; charset=utf-8\r\nX-Why: size\r\nVary: Origin\r\n")
      << "a second Content-Type is left out: the body is text";
}

}  // namespace
}  // namespace tiercel
