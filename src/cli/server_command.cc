#include "cli/server_command.h"

#include <sys/stat.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <thread>

#include "server/server.h"

namespace drover::cli {
void AddServerCommand(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<server::ServerOptions>();
  auto listen = std::make_shared<std::string>("127.0.0.1:8080");
  auto history_days = std::make_shared<double>(30);
  CLI::App* cmd = app.add_subcommand("server", "Run the drover server (API, scheduler, agent coordination)");
  cmd->add_option("--data-dir", opt->data_dir, "where state (SQLite), logs and tokens live")->capture_default_str();
  cmd->add_option("--listen", *listen, "HOST:PORT to listen on (port 0: any free port)")->capture_default_str();
  cmd->add_option("--tls-cert", opt->tls_cert, "PEM certificate: serve HTTPS");
  cmd->add_option("--tls-key", opt->tls_key, "PEM private key for --tls-cert");
  cmd->add_option("--advertise-url", opt->advertise_url, "URL workers use to reach the server");
  cmd->add_option("--max-jobs-per-user", opt->max_active_jobs_per_user,
                  "jobs not ended one user (not an admin) may have; more are refused with 429")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  cmd->add_option("--max-kv-bytes-per-user", opt->max_kv_bytes_per_user,
                  "bytes of values all of one user's jobs' key-value stores may hold (each job: 64 MiB)")
      ->check(CLI::Range(size_t{1} << 20, size_t{1} << 40))
      ->capture_default_str();
  cmd->add_option("--default-run-as", opt->default_run_as,
                  "OS user the workers of consumers without run_as run as (on agents running as root; "
                  "default: the agent's own user)");
  cmd->add_flag("--no-root-workers", opt->no_root_workers,
                "refuse (403) jobs whose workers would run as root: their consumer has no run_as (nor an "
                "ancestor) and there is no --default-run-as, or it is root");
  auto inference_port = std::make_shared<int>(-2);
  cmd->add_option("--inference-port", *inference_port,
                  "the inference router's port, on the --listen host (default: the API's port + 1, or any free "
                  "port when that is 0; -1: no router)")
      ->check(CLI::Range(-1, 65535));
  cmd->add_option("--serve-binary", opt->serve_binary, "the program deployments' replicas run (found on the agents' PATH)")
      ->capture_default_str();
  cmd->add_option("--policy", opt->policy, "scheduling policy: drover, fifo")->capture_default_str();
  cmd->add_option("--heartbeat-timeout", opt->heartbeat_timeout, "seconds before a silent host is marked down")
      ->capture_default_str();
  cmd->add_option("--worker-heartbeat-timeout", opt->worker_heartbeat_timeout,
                  "seconds without a status post before a worker that posts status counts as failed (0: never)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--history-interval", opt->history.interval,
                  "seconds between samples of the console's history (0: keep none)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  cmd->add_option("--history-days", *history_days, "days the console's history is kept (as 5-minute averages)")
      ->check(CLI::Range(1.0, 3650.0))
      ->capture_default_str();
  cmd->callback([opt, listen, inference_port, history_days, &exit_code]() {
    opt->history.keep = *history_days * 86400;
    size_t colon = listen->rfind(':');
    if (colon == std::string::npos) {
      std::cerr << "drover server: --listen must be HOST:PORT, got '" << *listen << "'\n";
      exit_code = 2;
      return;
    }
    opt->host = listen->substr(0, colon);
    try {
      opt->port = std::stoi(listen->substr(colon + 1));
    } catch (...) {
      opt->port = -1;
    }
    if (opt->port < 0 || opt->port > 65535) {
      std::cerr << "drover server: bad port in --listen '" << *listen << "'\n";
      exit_code = 2;
      return;
    }
    opt->inference_port = *inference_port != -2 ? *inference_port : opt->port == 0 ? 0 : (opt->port + 1) % 65536;
    opt->inference_port_defaulted = *inference_port == -2;
    // Signals are waited for on a dedicated thread, so Stop() runs outside a handler.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    // Everything the server writes (database, secrets, workers' logs) is its own: 0600 files, 0700 dirs.
    ::umask(077);
    server::Server server(*opt);
    std::thread waiter([set, &server]() mutable {
      int sig = 0;
      sigwait(&set, &sig);
      server.Stop();
    });
    Status st = server.Run();
    if (!st.ok()) std::cerr << "drover server: " << st.message() << "\n";
    exit_code = st.ok() ? 0 : 1;
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
  });
}

}  // namespace drover::cli
