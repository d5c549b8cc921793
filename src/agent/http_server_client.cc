#include "agent/http_server_client.h"

namespace drover::agent {
namespace {

constexpr const char* kApiPrefix = "/api/v1/agent/";

}  // namespace

Result<std::unique_ptr<HttpServerClient>> HttpServerClient::Create(const std::string& url,
                                                                   HttpClientOptions options) {
  auto parsed = net::ParseServerUrl(url);
  if (!parsed.ok()) return parsed.status();
  return std::unique_ptr<HttpServerClient>(new HttpServerClient(std::move(*parsed), options));
}

HttpServerClient::HttpServerClient(net::ServerUrl url, HttpClientOptions options)
    : url_(std::move(url)), options_(options), client_(net::NewClient(url_, options_.tls)) {
  client_->set_connection_timeout(std::chrono::milliseconds(options_.connect_timeout_ms));
  client_->set_write_timeout(std::chrono::milliseconds(options_.read_slack_ms));
}

HttpServerClient::~HttpServerClient() = default;

Result<std::string> HttpServerClient::Post(const std::string& call, const std::string& token,
                                           const std::string& body, int read_timeout_ms) {
  client_->set_read_timeout(std::chrono::milliseconds(read_timeout_ms));
  httplib::Headers headers = {{"Authorization", "Bearer " + token}};
  std::string path = url_.path_prefix + kApiPrefix + call;
  httplib::Result res = client_->Post(path, headers, body, "application/json");
  if (!res) {
    return Unavailable(call + ": " + url_.scheme + "://" + url_.host_port + ": " +
                       net::DescribeError(res.error()));
  }
  DROVER_RETURN_IF_ERROR(net::StatusFromHttp(call, res->status, res->body));
  return std::move(res->body);
}

Result<RegisterResponse> HttpServerClient::Register(const std::string& join_token,
                                                    const RegisterRequest& request) {
  auto body = Post("register", join_token, api::Encode(request), options_.read_slack_ms);
  if (!body.ok()) return body.status();
  return api::DecodeRegisterResponse(*body);
}

Result<SyncResponse> HttpServerClient::Sync(const std::string& agent_token,
                                            const SyncRequest& request) {
  auto body = Post("sync", agent_token, api::Encode(request),
                   request.wait_ms + options_.read_slack_ms);
  if (!body.ok()) return body.status();
  return api::DecodeSyncResponse(*body);
}

}  // namespace drover::agent
