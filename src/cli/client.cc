#include "cli/client.h"

#include <fcntl.h>
#include <netdb.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <httplib.h>

#include "net/http.h"

namespace drover::cli {
namespace {

namespace fs = std::filesystem;

fs::path ConfigPath() {
  if (const char* x = std::getenv("DROVER_CONFIG")) return x;
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  fs::path base = xdg && *xdg ? fs::path(xdg) : fs::path(home ? home : ".") / ".config";
  return base / "drover" / "config.json";
}

// The server's URL as the CLI takes it: scheme://host[:port], no path (an error message otherwise).
Result<net::ServerUrl> CliServerUrl(const std::string& url) {
  Result<net::ServerUrl> u = net::ParseServerUrl(url);
  if (u.ok() && u->path_prefix.empty()) return u;
  return InvalidArgument("the server URL " + url +
                         " is not scheme://host[:port] (like http://127.0.0.1:8080, with no path)");
}

std::unique_ptr<httplib::Client> Connect(const ClientConfig& c) {
  Result<net::ServerUrl> url = CliServerUrl(c.server);
  // A URL that does not parse still gets a client: its request fails, and FromResult says why.
  auto client = url.ok() ? net::NewClient(*url, {c.insecure, c.ca_cert}) : std::make_unique<httplib::Client>(c.server);
  client->set_connection_timeout(5, 0);
  client->set_read_timeout(60, 0);
  if (!c.token.empty()) client->set_bearer_token_auth(c.token);
  return client;
}

Reply FromResult(const httplib::Result& res, const ClientConfig& c) {
  Reply r;
  if (!res) {
    Result<net::ServerUrl> url = CliServerUrl(c.server);
    if (!url.ok()) {
      r.error = url.status().message();
      return r;
    }
    // Say which of the usual causes it is: a name that does not resolve, or nobody listening.
    std::string host = url->host_port.substr(0, url->host_port.rfind(':'));
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, nullptr, &found) != 0) {
      r.error = "cannot resolve the server's host name '" + host + "' (from " + c.server + ")";
      return r;
    }
    freeaddrinfo(found);
    if (res.error() == httplib::Error::SSLServerVerification) {
      r.error = "the server at " + c.server + " presented a TLS certificate that is not trusted or not for " + host +
                " (give the CA that signed it: `drover login --ca-cert FILE`; --insecure skips the check)";
      return r;
    }
    r.error = "cannot reach the server at " + c.server + " (" + httplib::to_string(res.error()) +
              "); is `drover server` running there, and is the port right (`drover login --server URL`)?";
    return r;
  }
  r.status = res->status;
  r.body = res->body;
  r.json = nlohmann::json::parse(r.body, nullptr, false);
  if (r.json.is_discarded()) r.json = nullptr;
  if (r.status >= 300) {
    r.error = r.json.is_object() && r.json.contains("error") ? r.json["error"].get<std::string>()
                                                              : "HTTP " + std::to_string(r.status);
  }
  return r;
}

}  // namespace

int Reply::exit_code() const {
  if (status >= 200 && status < 300) return kOk;
  switch (status) {
    case 0: return kServerError;
    case 400: case 413: return kBadInput;
    case 404: return kNotFound;
    case 401: case 403: return kDenied;
    case 409: return kConflict;
    default: return kServerError;
  }
}

ClientConfig LoadClientConfig() {
  ClientConfig c;
  std::ifstream in(ConfigPath());
  if (in) {
    nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_object()) {
      c.server = j.value("server", "");
      c.token = j.value("token", "");
      c.insecure = j.value("insecure", false);
      c.ca_cert = j.value("ca_cert", "");
    }
  }
  if (const char* s = std::getenv("DROVER_SERVER")) c.server = s;
  if (const char* t = std::getenv("DROVER_TOKEN")) c.token = t;
  if (const char* a = std::getenv("DROVER_CA_CERT")) c.ca_cert = a;
  if (c.server.empty()) c.server = "http://127.0.0.1:8080";
  return c;
}

std::string ForgetClientConfig() {
  std::error_code ec;
  fs::remove(ConfigPath(), ec);
  return ec ? "cannot remove " + ConfigPath().string() + ": " + ec.message() : "";
}

std::string SaveClientConfig(const ClientConfig& c) {
  fs::path path = ConfigPath();
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fs::path tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return "cannot write " + tmp.string() + ": " + std::strerror(errno);
  std::string text =
      nlohmann::json{{"server", c.server}, {"token", c.token}, {"insecure", c.insecure}, {"ca_cert", c.ca_cert}}.dump(2) +
      "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return "cannot write " + tmp.string();
  fs::rename(tmp, path, ec);
  return ec ? "cannot replace " + path.string() + ": " + ec.message() : "";
}

Reply Client::Call(const std::string& method, const std::string& path, const std::string& body,
                   const std::string& type) const {
  auto c = Connect(config_);
  if (method == "GET") return FromResult(c->Get(path), config_);
  if (method == "POST") return FromResult(c->Post(path, body, type), config_);
  if (method == "PUT") return FromResult(c->Put(path, body, type), config_);
  if (method == "DELETE") return FromResult(c->Delete(path), config_);
  return FromResult(c->Patch(path, body, type), config_);
}

Reply Client::Get(const std::string& path) const { return Call("GET", path, "", ""); }
Reply Client::Post(const std::string& path, const std::string& body, const std::string& type) const {
  return Call("POST", path, body, type);
}
Reply Client::Put(const std::string& path, const std::string& body, const std::string& type) const {
  return Call("PUT", path, body, type);
}
Reply Client::Delete(const std::string& path) const { return Call("DELETE", path, "", ""); }
Reply Client::Patch(const std::string& path, const std::string& body) const {
  return Call("PATCH", path, body, "application/json");
}

Reply Client::Stream(const std::string& path, const std::function<bool(const char*, size_t)>& sink) const {
  auto c = Connect(config_);
  c->set_read_timeout(3600, 0);
  std::string error_body;
  int status = 0;
  auto res = c->Get(
      path, httplib::Headers{},
      [&](const httplib::Response& r) {
        status = r.status;
        return true;
      },
      [&](const char* data, size_t n) {
        if (status >= 300) {
          error_body.append(data, n);
          return true;
        }
        return sink(data, n);
      });
  Reply r = FromResult(res, config_);
  if (res && status >= 300) {
    r.body = error_body;
    r.json = nlohmann::json::parse(error_body, nullptr, false);
    r.error = r.json.is_object() && r.json.contains("error") ? r.json["error"].get<std::string>() : "HTTP " + std::to_string(status);
  }
  return r;
}

int Report(const std::string& command, const Reply& r) {
  if (!r.error.empty()) std::cerr << "drover " << command << ": " << r.error << "\n";
  return r.exit_code();
}

}  // namespace drover::cli
