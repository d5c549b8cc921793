#include "server/router.h"

#include <chrono>

#include <httplib.h>

#include "server/http_util.h"
#include "server/metrics.h"

namespace drover::server {

Router::Router(httplib::Server& http, Authenticate authenticate, Metrics& metrics)
    : http_(http), authenticate_(std::move(authenticate)), metrics_(metrics) {}

std::string Router::Pattern(const std::string& route) {
  std::string out;
  for (size_t i = 0; i < route.size();) {
    if (route[i] == '{') {
      size_t close = route.find('}', i);
      std::string name = route.substr(i + 1, close - i - 1);
      out += name == "id" || name == "rank" ? "(\\d+)" : name == "key" ? "(.+)" : "([^/]+)";
      i = close + 1;
    } else {
      if (std::string("().[]*+?^$|\\").find(route[i]) != std::string::npos) out += '\\';
      out += route[i++];
    }
  }
  return out;
}

void Router::Add(const std::string& method, const std::string& route, std::vector<Role> roles, Handler fn) {
  methods_[route].insert(method);
  auto handler = [this, route, roles = std::move(roles), fn = std::move(fn)](const httplib::Request& req,
                                                                            httplib::Response& res) {
    auto t0 = std::chrono::steady_clock::now();
    std::optional<Principal> who = authenticate_(req);
    if (!who) {
      Reply(res, 401, {{"error", "missing or invalid token: log in with `drover login` (the admin token is in "
                                 "the server's data dir)"}});
    } else if (std::find(roles.begin(), roles.end(), who->role) == roles.end()) {
      Reply(res, 403, {{"error", "this token may not call " + route}});
    } else {
      fn(*who, req, res);
    }
    metrics_.ObserveRequest(route, res.status,
                            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  std::string pattern = Pattern(route);
  if (method == "GET") http_.Get(pattern, handler);
  else if (method == "POST") http_.Post(pattern, handler);
  else if (method == "PUT") http_.Put(pattern, handler);
  else if (method == "PATCH") http_.Patch(pattern, handler);
  else http_.Delete(pattern, handler);
}

void Router::Get(const std::string& r, std::vector<Role> roles, Handler fn) { Add("GET", r, std::move(roles), std::move(fn)); }
void Router::Post(const std::string& r, std::vector<Role> roles, Handler fn) { Add("POST", r, std::move(roles), std::move(fn)); }
void Router::Put(const std::string& r, std::vector<Role> roles, Handler fn) { Add("PUT", r, std::move(roles), std::move(fn)); }
void Router::Patch(const std::string& r, std::vector<Role> roles, Handler fn) { Add("PATCH", r, std::move(roles), std::move(fn)); }
void Router::Delete(const std::string& r, std::vector<Role> roles, Handler fn) { Add("DELETE", r, std::move(roles), std::move(fn)); }

void Router::Finish() {
  for (const auto& [route, served] : methods_) {
    std::string allow;
    for (const std::string& m : served) allow += (allow.empty() ? "" : ", ") + m;
    auto refuse = [route, allow](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", allow);
      Reply(res, 405, {{"error", req.method + " is not allowed on " + route + "; it takes " + allow}});
    };
    std::string pattern = Pattern(route);
    if (!served.count("GET")) http_.Get(pattern, refuse);
    if (!served.count("POST")) http_.Post(pattern, refuse);
    if (!served.count("PUT")) http_.Put(pattern, refuse);
    if (!served.count("PATCH")) http_.Patch(pattern, refuse);
    if (!served.count("DELETE")) http_.Delete(pattern, refuse);
  }
  // Anything the routes did not answer (no such path, a body httplib refused) still gets a JSON error.
  http_.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string why = res.status == 404   ? "no such endpoint: " + req.method + " " + req.path
                      : res.status == 400 ? "the request could not be read (a POST without a body needs "
                                            "Content-Length: 0)"
                                          : "the request could not be read (HTTP " + std::to_string(res.status) + ")";
    Reply(res, res.status, {{"error", why}});
  });
}

}  // namespace drover::server
