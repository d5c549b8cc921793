#include "agent/http_server_client.h"

#include <gtest/gtest.h>

namespace drover::agent {
namespace {

TEST(HttpServerClientTest, ParsesServerUrls) {
  auto url = net::ParseServerUrl("https://drover.example.com:8443/prefix/");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->host_port, "drover.example.com:8443");
  EXPECT_EQ(url->path_prefix, "/prefix");
  url = net::ParseServerUrl("http://127.0.0.1:8080");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host_port, "127.0.0.1:8080");
  EXPECT_EQ(url->path_prefix, "");
  for (const char* bad : {"127.0.0.1:8080", "ftp://host", "http://", "http://host?x=1"}) {
    EXPECT_EQ(net::ParseServerUrl(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(
      HttpServerClient::Create("http://127.0.0.1:1", {}).ok());  // no connection until a call
}

TEST(HttpServerClientTest, MapsHttpStatuses) {
  struct Case {
    const char* call;
    int http;
    StatusCode code;
  };
  const Case cases[] = {
      {"sync", 200, StatusCode::kOk},
      {"sync", 401, StatusCode::kUnauthenticated},
      {"sync", 404, StatusCode::kNotFound},
      {"sync", 503, StatusCode::kUnavailable},
      {"sync", 429, StatusCode::kUnavailable},
      {"sync", 400, StatusCode::kInvalidArgument},
      {"register", 403, StatusCode::kPermissionDenied},
      {"register", 409, StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(net::StatusFromHttp(c.call, c.http, "").code(), c.code) << c.call << " " << c.http;
  }
  EXPECT_EQ(net::StatusFromHttp("register", 400, R"({"error": "name: empty"})").message(),
            "register: HTTP 400: name: empty");
}

}  // namespace
}  // namespace drover::agent
