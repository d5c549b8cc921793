#include "cli/serve_command.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cli/client.h"
#include "cli/command_util.h"
#include "net/http.h"
#include "net/http_server.h"
#include "serve/inference_router.h"
#include "serve/oip.h"

namespace drover::cli {
namespace {

std::string Ms(const json& v) {
  if (v.is_null()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v.get<double>());
  return buf;
}

void PrintDeployments(const json& list) {
  std::printf("%-20s %-8s %-16s %-9s %-9s %8s %8s %8s\n", "NAME", "STATE", "CONSUMER", "REPLICAS", "IN-FLIGHT",
              "REQ/S", "P50 MS", "P99 MS");
  for (const json& d : list) {
    const json& r = d["replicas"];
    const std::string replicas = std::to_string(r["ready"].get<int>()) + "/" + std::to_string(r["desired"].get<int>()) +
                                 " (" + std::to_string(r["min"].get<int>()) + ".." + std::to_string(r["max"].get<int>()) + ")";
    std::printf("%-20s %-8s %-16s %-9s %-9lld %8.1f %8s %8s\n", d["name"].get<std::string>().c_str(),
                d["state"].get<std::string>().c_str(), d["consumer"].get<std::string>().c_str(), replicas.c_str(),
                static_cast<long long>(d["in_flight"].get<int64_t>() + d["held"].get<int64_t>()),
                d["requests_per_s"].get<double>(), Ms(d["p50_ms"]).c_str(), Ms(d["p99_ms"]).c_str());
  }
}

void PrintDeployment(const json& d) {
  const json& r = d["replicas"];
  std::cout << "name:      " << d["name"].get<std::string>() << "  (" << d["state"].get<std::string>() << ")\n"
            << "owner:     " << d["owner"].get<std::string>() << "  consumer " << d["consumer"].get<std::string>() << "\n"
            << "model:     " << d["model"].get<std::string>() << "\n"
            << "url:       " << (d["url"].get<std::string>().empty() ? "(the server runs no router)" : d["url"].get<std::string>())
            << "\n"
            << "replicas:  " << r["ready"].get<int>() << " ready, " << r["desired"].get<int>() << " wanted (min "
            << r["min"].get<int>() << ", max " << r["max"].get<int>() << ")"
            << (d["job"].is_null() ? "" : ", job " + std::to_string(d["job"].get<int64_t>())) << "\n"
            << "load:      " << d["in_flight"].get<int64_t>() << " in flight, " << d["held"].get<int64_t>()
            << " held; last minute " << Ms(d["requests_per_s"]) << " req/s, p50 " << Ms(d["p50_ms"]) << " ms, p99 "
            << Ms(d["p99_ms"]) << " ms\n"
            << "answered:  " << d["answered"].get<uint64_t>() << " (" << d["failed"].get<uint64_t>() << " failed, "
            << d["retried"].get<uint64_t>() << " retried on another replica)\n";
  if (!d["reason"].get<std::string>().empty()) std::cout << "reason:    " << d["reason"].get<std::string>() << "\n";
  if (d.contains("pending_reason")) std::cout << "pending:   " << d["pending_reason"].get<std::string>() << "\n";
  if (!d["replica_list"].empty()) {
    std::printf("\n%-6s %-16s %-10s %-6s %s\n", "RANK", "HOST", "STATE", "READY", "PORT");
    for (const json& w : d["replica_list"]) {
      std::printf("%-6d %-16s %-10s %-6s %s\n", w["rank"].get<int>(), w["host"].get<std::string>().c_str(),
                  w["state"].get<std::string>().c_str(), w["ready"].get<bool>() ? "yes" : "no",
                  w["port"].is_null() ? "-" : std::to_string(w["port"].get<int>()).c_str());
    }
  }
  if (!d["events"].empty()) {
    std::cout << "\nscaling events:\n";
    for (const json& e : d["events"]) {
      std::cout << "  " << Clock(e["time"].get<double>()) << "  " << e["from"].get<int>() << " -> " << e["to"].get<int>()
                << "  " << e["reason"].get<std::string>() << "\n";
    }
  }
}

// `drover router`: the data path on its own. Replicas come from --static or,
// with --server, from the server's deployments (polled each second); callers
// are then checked against the server with their own token (cached 5 s).
struct RouterFlags {
  std::string listen = "127.0.0.1:8081";
  int port = -1;
  std::string port_file;
  std::vector<std::string> statics;
  std::string server;
  int threads = 128;
};

int RunRouter(const RouterFlags& f, bool server_mode, const ClientConfig& config) {
  serve::InferenceRouter router;
  std::map<std::string, std::set<std::string>> static_models;
  for (const std::string& s : f.statics) {
    const size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "drover router: --static: expected MODEL=URL[,URL...], got '" << s << "'\n";
      return kBadInput;
    }
    std::vector<serve::Endpoint> eps;
    std::string rest = s.substr(eq + 1);
    for (size_t start = 0; start <= rest.size();) {
      const size_t comma = std::min(rest.find(',', start), rest.size());
      Result<net::ServerUrl> url = net::ParseServerUrl(rest.substr(start, comma - start));
      if (!url.ok() || url->scheme != "http") {
        std::cerr << "drover router: --static: " << (url.ok() ? "replicas speak plain http" : url.status().message()) << "\n";
        return kBadInput;
      }
      const size_t colon = url->host_port.rfind(':');
      if (colon == std::string::npos) {
        std::cerr << "drover router: --static: give each replica's port\n";
        return kBadInput;
      }
      eps.push_back({url->host_port, url->host_port.substr(0, colon), std::stoi(url->host_port.substr(colon + 1))});
      start = comma + 1;
    }
    router.SetModel(s.substr(0, eq), std::move(eps));
  }

  std::string host = "127.0.0.1";
  int port = f.port;
  if (port < 0) {
    const size_t colon = f.listen.rfind(':');
    if (colon == std::string::npos) {
      std::cerr << "drover router: --listen must be HOST:PORT\n";
      return kBadInput;
    }
    host = f.listen.substr(0, colon);
    port = std::atoi(f.listen.substr(colon + 1).c_str());
  }

  // Callers' tokens, as the server judged them: (sha256 of the header, model) -> allowed, until.
  std::mutex acl_mu;
  std::map<std::pair<std::string, std::string>, std::pair<bool, std::chrono::steady_clock::time_point>> acl;
  auto allowed = [&](const std::string& auth, const std::string& model) {
    const auto now = std::chrono::steady_clock::now();
    const auto key = std::make_pair(auth, model);
    {
      std::lock_guard<std::mutex> lock(acl_mu);
      auto it = acl.find(key);
      if (it != acl.end() && it->second.second > now) return it->second.first;
    }
    ClientConfig caller = config;
    caller.token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
    const bool ok = !caller.token.empty() && Client(caller).Get("/api/v1/deployments/" + model).status == 200;
    std::lock_guard<std::mutex> lock(acl_mu);
    if (acl.size() > 4096) acl.clear();
    acl[key] = {ok, now + std::chrono::seconds(5)};
    return ok;
  };

  net::HttpServerOptions o;
  o.host = host;
  o.port = port;
  o.workers = f.threads;
  o.max_body_bytes = size_t{32} << 20;
  net::HttpServer http(o, [&](httplib::Request& req, httplib::Response& res) {
    router.Serve(req, res, [&](const std::string& model, const std::string& auth) -> std::optional<serve::RoutedAnswer> {
      if (!server_mode) return std::nullopt;
      if (auth.empty()) return serve::Refusal(401, "a user token is required (Authorization: Bearer ...)");
      if (!allowed(auth, model)) return serve::Refusal(404, "no model \"" + model.substr(0, 80) + "\" you may call is deployed");
      return std::nullopt;
    });
    return std::optional<net::Wait>();
  });
  if (Status st = http.Bind(); !st.ok()) {
    std::cerr << "drover router: " << st.message() << "\n";
    return kServerError;
  }
  std::cerr << "drover router: listening on " << host << ":" << http.port()
            << (server_mode ? " for the deployments of " + config.server : std::string(" (static replicas)")) << "\n";
  if (!f.port_file.empty()) {
    if (Status st = net::WritePortFile(f.port_file, http.port()); !st.ok()) {
      std::cerr << "drover router: " << st.message() << "\n";
      return kServerError;
    }
  }

  std::atomic<bool> stopping{false};
  std::thread poller;
  if (server_mode) {
    poller = std::thread([&] {
      Client client(config);
      std::set<std::string> known;
      while (!stopping) {
        Reply list = client.Get("/api/v1/deployments");
        if (list.status == 200) {
          std::set<std::string> seen;
          for (const json& d : list.json["deployments"]) {
            const std::string name = d["name"];
            Reply one = client.Get("/api/v1/deployments/" + name);
            if (one.status != 200 || d["state"] != "ACTIVE") continue;
            std::vector<serve::Endpoint> ready;
            for (const json& w : one.json["replica_list"]) {
              if (!w["ready"].get<bool>() || w["port"].is_null() || w["address"].get<std::string>().empty()) continue;
              ready.push_back({name + " rank " + std::to_string(w["rank"].get<int>()), w["address"], w["port"]});
            }
            router.SetModel(name, std::move(ready));
            seen.insert(name);
          }
          for (const std::string& gone : known) {
            if (!seen.count(gone)) router.RemoveModel(gone);
          }
          known = std::move(seen);
        } else {
          std::cerr << "drover router: cannot list deployments: " << list.error << "\n";
        }
        for (int i = 0; i < 10 && !stopping; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    stopping = true;
    http.Stop();
  });
  http.Run();
  stopping = true;
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  if (poller.joinable()) poller.join();
  return kOk;
}

}  // namespace

void AddServeCommands(CLI::App& app, int& exit_code) {
  {
    auto c = std::make_shared<Common>();
    auto file = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("deploy", "Deploy a model (YAML): replicas served over the Open Inference Protocol");
    cmd->add_option("-f,--file", *file, "deployment YAML")->required();
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      std::string err;
      const std::string yaml = ReadFile(*file, &err);
      if (!err.empty()) {
        std::cerr << "drover deploy: " << err << "\n";
        exit_code = kBadInput;
        return;
      }
      Reply r = c->client().Post("/api/v1/deployments?" + FileParam(*file), yaml, "application/yaml");
      if ((exit_code = Report("deploy", r)) != kOk) return;
      if (c->as_json()) return c->Print(r.json);
      std::cout << "deployment " << r.json["name"].get<std::string>() << " created";
      if (!r.json["url"].get<std::string>().empty()) std::cout << "; infer at " << r.json["url"].get<std::string>() << "/infer";
      std::cout << "\n";
    });
  }
  {
    auto c = std::make_shared<Common>();
    CLI::App* cmd = app.add_subcommand("deployments", "Deployments you may see, with their replicas and load");
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      Reply r = c->client().Get("/api/v1/deployments");
      if ((exit_code = Report("deployments", r)) != kOk) return;
      if (c->as_json()) return c->Print(r.json);
      PrintDeployments(r.json["deployments"]);
    });
  }
  {
    auto c = std::make_shared<Common>();
    auto name = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("deployment", "A deployment: replicas, hosts, load, latency and scaling events");
    cmd->add_option("name", *name, "deployment name")->required();
    AddOutput(cmd, *c);
    cmd->callback([=, &exit_code]() {
      Reply r = c->client().Get("/api/v1/deployments/" + *name);
      if ((exit_code = Report("deployment", r)) != kOk) return;
      if (c->as_json()) return c->Print(r.json);
      PrintDeployment(r.json);
    });
  }
  {
    auto c = std::make_shared<Common>();
    auto name = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("undeploy", "Remove a deployment: its replicas drain and stop");
    cmd->add_option("name", *name, "deployment name")->required();
    cmd->add_flag("--insecure", c->insecure, "do not verify the server's TLS certificate");
    cmd->callback([=, &exit_code]() {
      Reply r = c->client().Delete("/api/v1/deployments/" + *name);
      if ((exit_code = Report("undeploy", r)) == kOk) std::cout << "deployment " << *name << " removed\n";
    });
  }
  {
    auto f = std::make_shared<RouterFlags>();
    auto insecure = std::make_shared<bool>(false);
    CLI::App* cmd = app.add_subcommand(
        "router", "Route /v2/models/NAME/... to a deployment's replicas, apart from the server (least outstanding, "
                  "one retry, hold at zero)");
    cmd->add_option("--listen", f->listen, "HOST:PORT to listen on")->capture_default_str();
    cmd->add_option("--port", f->port, "port on 127.0.0.1 instead of --listen (0: any free port)")->check(CLI::Range(0, 65535));
    cmd->add_option("--port-file", f->port_file, "write the bound port here once listening");
    auto* statics = cmd->add_option("--static", f->statics,
                                    "MODEL=URL[,URL...]: fixed replicas, no authentication (benchmarks, trusted networks)");
    auto* server = cmd->add_option("--server", f->server, "the drover server whose deployments to route to (its token from "
                                                          "`drover login`; callers must present their own)");
    statics->excludes(server);
    cmd->add_option("--threads", f->threads, "request handler threads")->check(CLI::Range(1, 4096))->capture_default_str();
    cmd->add_flag("--insecure", *insecure, "do not verify the server's TLS certificate");
    cmd->callback([=, &exit_code]() {
      if (f->statics.empty() && f->server.empty()) {
        std::cerr << "drover router: give --static MODEL=URL or --server URL\n";
        exit_code = kBadInput;
        return;
      }
      ClientConfig config = LoadClientConfig();
      if (!f->server.empty()) config.server = f->server;
      config.insecure = config.insecure || *insecure;
      exit_code = RunRouter(*f, !f->server.empty(), config);
    });
  }
}

}  // namespace drover::cli
