// The CLI's connection to a drover server: where (URL), as whom (token), and
// how to turn answers into exit codes and messages a user can act on.
//
// Configuration: `drover login` writes ~/.config/drover/config.json (mode
// 0600) with {"server", "token"}; DROVER_SERVER and DROVER_TOKEN override it.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace drover::cli {

//! Exit codes shared by every client command.
enum ExitCode { kOk = 0, kServerError = 1, kBadInput = 2, kNotFound = 3, kDenied = 4, kConflict = 5 };

struct ClientConfig {
  std::string server;
  std::string token;
  bool insecure = false;  //!< skip TLS certificate checks
  std::string ca_cert;    //!< PEM file of the CA that signed the server's certificate (DROVER_CA_CERT)
};

//! Removes the config file (logout); an error message or "".
std::string ForgetClientConfig();
//! Loads the config file and the environment. Empty fields when absent.
ClientConfig LoadClientConfig();
//! Writes the config file (mode 0600); returns an error message or "".
std::string SaveClientConfig(const ClientConfig& c);

struct Reply {
  int status = 0;              //!< HTTP status; 0 when the server was unreachable
  std::string body;
  nlohmann::json json;         //!< parsed body (null if not JSON)
  std::string error;           //!< a message for the user when not 2xx
  int exit_code() const;
};

class Client {
 public:
  explicit Client(ClientConfig config) : config_(std::move(config)) {}
  Reply Get(const std::string& path) const;
  Reply Post(const std::string& path, const std::string& body, const std::string& type = "application/json") const;
  Reply Put(const std::string& path, const std::string& body, const std::string& type) const;
  Reply Patch(const std::string& path, const std::string& body) const;
  Reply Delete(const std::string& path) const;
  //! Streams a GET body to `sink` as it arrives; returns the status.
  Reply Stream(const std::string& path, const std::function<bool(const char*, size_t)>& sink) const;
  const ClientConfig& config() const { return config_; }

 private:
  Reply Call(const std::string& method, const std::string& path, const std::string& body, const std::string& type) const;
  ClientConfig config_;
};

//! Prints `r.error` to stderr prefixed with `command` and returns its exit code.
int Report(const std::string& command, const Reply& r);

}  // namespace drover::cli
