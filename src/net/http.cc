#include "net/http.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

namespace drover::net {
namespace {

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

}  // namespace

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
      return "server's TLS certificate not trusted or not for this host (--ca-cert names the CA; --insecure skips verification)";
    default:
      return httplib::to_string(e);
  }
}


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

std::unique_ptr<httplib::Client> NewClient(const ServerUrl& url, const TlsOptions& tls) {
  auto client = std::make_unique<httplib::Client>(url.scheme + "://" + url.host_port);
  client->set_keep_alive(true);
  client->set_tcp_nodelay(true);
  if (url.scheme == "https") {
    client->enable_server_certificate_verification(!tls.insecure);
    if (!tls.ca_cert.empty()) client->set_ca_cert_path(tls.ca_cert.c_str());
  }
  return client;
}

}  // namespace drover::net
