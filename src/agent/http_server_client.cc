#include "agent/http_server_client.h"

#include <httplib.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace drover::agent {
namespace {

constexpr const char* kApiPrefix = "/api/v1/agent/";

// The server's message: the "error" field of a JSON body, else the body itself, shortened.
std::string ServerMessage(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  std::string msg;
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    msg = j["error"].get<std::string>();
  } else {
    msg = body;
  }
  if (msg.size() > 300) msg = msg.substr(0, 300) + "...";
  return msg.empty() ? "" : ": " + msg;
}

std::string DescribeError(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "no answer (read failed or timed out)";
    case httplib::Error::Write:
      return "request could not be sent";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the system's CA certificates";
    case httplib::Error::SSLServerVerification:
      return "server's TLS certificate not trusted (--insecure skips verification)";
    default:
      return httplib::to_string(e);
  }
}

}  // namespace

Result<ServerUrl> ParseServerUrl(const std::string& url) {
  ServerUrl out;
  size_t sep = url.find("://");
  if (sep == std::string::npos)
    return InvalidArgument("server URL '" + url + "': expected http://host[:port] or https://...");
  out.scheme = url.substr(0, sep);
  std::transform(out.scheme.begin(), out.scheme.end(), out.scheme.begin(), ::tolower);
  if (out.scheme != "http" && out.scheme != "https") {
    return InvalidArgument("server URL '" + url + "': scheme '" + out.scheme +
                           "' is not http or https");
  }
  std::string rest = url.substr(sep + 3);
  size_t slash = rest.find('/');
  out.host_port = rest.substr(0, slash);
  if (slash != std::string::npos) out.path_prefix = rest.substr(slash);
  while (!out.path_prefix.empty() && out.path_prefix.back() == '/') out.path_prefix.pop_back();
  if (out.host_port.empty()) return InvalidArgument("server URL '" + url + "': no host");
  if (out.host_port.find_first_of("?#@ ") != std::string::npos ||
      out.path_prefix.find_first_of("?# ") != std::string::npos) {
    return InvalidArgument("server URL '" + url + "': expected http[s]://host[:port][/prefix]");
  }
  return out;
}

Status StatusFromHttp(const std::string& call, int http_status, const std::string& body) {
  if (http_status >= 200 && http_status < 300) return Status::Ok();
  std::string what = call + ": HTTP " + std::to_string(http_status) + ServerMessage(body);
  if (http_status >= 500 || http_status == 408 || http_status == 429) return Unavailable(what);
  switch (http_status) {
    case 400:
      return InvalidArgument(what);
    case 401:
      return {StatusCode::kUnauthenticated, what};
    case 403:
      return PermissionDenied(what);
    case 404:
      return NotFound(what);
    default:
      return Internal(what);
  }
}

Result<std::unique_ptr<HttpServerClient>> HttpServerClient::Create(const std::string& url,
                                                                   HttpClientOptions options) {
  auto parsed = ParseServerUrl(url);
  if (!parsed.ok()) return parsed.status();
  return std::unique_ptr<HttpServerClient>(new HttpServerClient(std::move(*parsed), options));
}

HttpServerClient::HttpServerClient(ServerUrl url, HttpClientOptions options)
    : url_(std::move(url)),
      options_(options),
      client_(std::make_unique<httplib::Client>(url_.scheme + "://" + url_.host_port)) {
  client_->set_keep_alive(true);
  client_->set_tcp_nodelay(true);
  client_->set_connection_timeout(std::chrono::milliseconds(options_.connect_timeout_ms));
  client_->set_write_timeout(std::chrono::milliseconds(options_.read_slack_ms));
  if (url_.scheme == "https") {
    client_->enable_server_certificate_verification(!options_.insecure);
    if (!options_.ca_cert.empty()) client_->set_ca_cert_path(options_.ca_cert.c_str());
  }
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
                       DescribeError(res.error()));
  }
  DROVER_RETURN_IF_ERROR(StatusFromHttp(call, res->status, res->body));
  return std::move(res->body);
}

Result<RegisterResponse> HttpServerClient::Register(const std::string& join_token,
                                                    const RegisterRequest& request) {
  auto body = Post("register", join_token, EncodeRegisterRequest(request), options_.read_slack_ms);
  if (!body.ok()) return body.status();
  return DecodeRegisterResponse(*body);
}

Result<SyncResponse> HttpServerClient::Sync(const std::string& agent_token,
                                            const SyncRequest& request) {
  auto body = Post("sync", agent_token, EncodeSyncRequest(request),
                   request.wait_ms + options_.read_slack_ms);
  if (!body.ok()) return body.status();
  return DecodeSyncResponse(*body);
}

}  // namespace drover::agent
