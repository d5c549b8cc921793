#include "server/router.h"

#include <chrono>
#include <cstdio>
#include <functional>

#include <httplib.h>

#include "server/http_util.h"
#include "server/metrics.h"

namespace drover::server {

Router::Router(Authenticate authenticate, Metrics& metrics, int max_waits_per_principal)
    : authenticate_(std::move(authenticate)), metrics_(metrics), max_waits_(max_waits_per_principal) {}

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

std::string Router::Key(const Principal& who) {
  return std::to_string(static_cast<int>(who.role)) + ":" + who.name + ":" + std::to_string(who.job);
}

void Router::Add(const std::string& method, const std::string& route, std::vector<Role> roles, WaitingHandler fn) {
  methods_[route].insert(method);
  routes_.push_back({method, route, std::regex(Pattern(route)), std::move(roles), std::move(fn)});
}

void Router::Open(const std::string& method, const std::string& route,
                  std::function<void(const httplib::Request&, httplib::Response&)> fn) {
  Route r{method, route, std::regex(Pattern(route)), {}, nullptr, true};
  r.fn = [fn = std::move(fn)](const Principal&, const httplib::Request& req,
                              httplib::Response& res) -> std::optional<Wait> {
    fn(req, res);
    return std::nullopt;
  };
  routes_.push_back(std::move(r));
  open_.push_back(method + " " + route);
}

namespace {

Router::WaitingHandler Immediate(Router::Handler fn) {
  return [fn = std::move(fn)](const Principal& who, const httplib::Request& req,
                              httplib::Response& res) -> std::optional<Wait> {
    fn(who, req, res);
    return std::nullopt;
  };
}

}  // namespace

void Router::Get(const std::string& r, std::vector<Role> roles, Handler fn) { Add("GET", r, std::move(roles), Immediate(std::move(fn))); }
void Router::Post(const std::string& r, std::vector<Role> roles, Handler fn) { Add("POST", r, std::move(roles), Immediate(std::move(fn))); }
void Router::Put(const std::string& r, std::vector<Role> roles, Handler fn) { Add("PUT", r, std::move(roles), Immediate(std::move(fn))); }
void Router::Patch(const std::string& r, std::vector<Role> roles, Handler fn) { Add("PATCH", r, std::move(roles), Immediate(std::move(fn))); }
void Router::Delete(const std::string& r, std::vector<Role> roles, Handler fn) { Add("DELETE", r, std::move(roles), Immediate(std::move(fn))); }
void Router::GetWaiting(const std::string& r, std::vector<Role> roles, WaitingHandler fn) { Add("GET", r, std::move(roles), std::move(fn)); }
void Router::PostWaiting(const std::string& r, std::vector<Role> roles, WaitingHandler fn) { Add("POST", r, std::move(roles), std::move(fn)); }

// A GET answered in full gets an ETag (its body's hash); asked again with that
// tag in If-None-Match, it answers 304 without the body. The console's polls
// thus move bytes only when what they show has changed.
void Router::Conditional(const httplib::Request& req, httplib::Response& res) {
  if (res.status != 200 || res.body.empty()) return;  // errors, and streamed answers (logs)
  char tag[24];
  std::snprintf(tag, sizeof tag, "\"%016zx\"", std::hash<std::string>{}(res.body));
  res.set_header("ETag", tag);
  res.set_header("Cache-Control", "private, no-cache");  // the browser may keep it, but asks again each time
  if (req.get_header_value("If-None-Match") == tag) {
    res.status = 304;
    res.body.clear();
  }
}

std::optional<Wait> Router::Dispatch(httplib::Request& req, httplib::Response& res) {
  auto t0 = std::chrono::steady_clock::now();
  const Route* found = nullptr;
  std::set<std::string> methods;  // of a path that matched, for 405's Allow
  for (const Route& r : routes_) {
    std::smatch m;
    if (!std::regex_match(req.path, m, r.pattern)) continue;
    if (r.method == req.method) {
      req.matches = std::move(m);
      found = &r;
      break;
    }
    methods.insert(r.method);
  }
  if (!found) {
    if (!methods.empty()) {
      std::string allow;
      for (const std::string& m : methods) allow += (allow.empty() ? "" : ", ") + m;
      res.set_header("Allow", allow);
      Reply(res, 405, {{"error", req.method + " is not allowed on " + req.path + "; it takes " + allow}});
    } else {
      Reply(res, 404, {{"error", "no such endpoint: " + req.method + " " + req.path}});
    }
    return std::nullopt;
  }
  auto observe = [this, route = found->route, t0](int status) {
    metrics_.ObserveRequest(route, status,
                            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  if (found->open) {
    found->fn(Principal{}, req, res);
    if (req.method == "GET") Conditional(req, res);
    observe(res.status);
    return std::nullopt;
  }
  std::optional<Principal> who = authenticate_(req);
  if (!who) {
    Reply(res, 401, {{"error", "missing or invalid token: log in with `drover login` (the admin token is in "
                               "the server's data dir)"}});
  } else if (std::find(found->roles.begin(), found->roles.end(), who->role) == found->roles.end()) {
    Reply(res, 403, {{"error", "this token may not call " + found->route}});
  } else {
    const std::string key = Key(*who);
    {
      std::lock_guard<std::mutex> lock(waits_mu_);
      if (waits_[key] >= max_waits_) {
        res.set_header("Retry-After", "1");
        Reply(res, 429, {{"error", who->name + " already holds " + std::to_string(max_waits_) +
                                       " waiting requests; let some finish first"}});
        observe(res.status);
        return std::nullopt;
      }
    }
    std::optional<Wait> wait = found->fn(*who, req, res);
    if (!wait && req.method == "GET") Conditional(req, res);
    if (wait) {
      {
        std::lock_guard<std::mutex> lock(waits_mu_);
        ++waits_[key];
      }
      wait->release = [this, key, observe, &res, inner = std::move(wait->release)] {
        if (inner) inner();
        {
          std::lock_guard<std::mutex> lock(waits_mu_);
          if (--waits_[key] <= 0) waits_.erase(key);
        }
        observe(res.status);
      };
      return wait;
    }
  }
  observe(res.status);
  return std::nullopt;
}

}  // namespace drover::server
