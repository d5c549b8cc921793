// HttpServerClient: ServerClient over HTTP or HTTPS with cpp-httplib.
//
// The URL is "http[s]://host[:port][/prefix]"; requests go to
// <prefix>/api/v1/agent/{register,sync}. HTTPS verifies the server's
// certificate against the system's CA store unless `insecure` is set. One
// keep-alive connection is reused across calls. Errors are mapped as
// ServerClient documents. Thread safety: one call at a time (httplib::Client is
// not safe for concurrent use).
#pragma once

#include <memory>
#include <string>

#include "agent/server_client.h"
#include "net/http.h"

namespace drover::agent {

struct HttpClientOptions {
  net::TlsOptions tls;    //!< how the server's certificate is verified
  int connect_timeout_ms = 3000;
  //! Added to a sync's wait_ms for the read timeout, since the server holds it.
  int read_slack_ms = 10000;
};

class HttpServerClient : public ServerClient {
 public:
  //! Errors: kInvalidArgument for a bad URL.
  static Result<std::unique_ptr<HttpServerClient>> Create(const std::string& url,
                                                          HttpClientOptions options);
  ~HttpServerClient() override;

  Result<RegisterResponse> Register(const std::string& join_token,
                                    const RegisterRequest& request) override;
  Result<SyncResponse> Sync(const std::string& agent_token, const SyncRequest& request) override;

 private:
  HttpServerClient(net::ServerUrl url, HttpClientOptions options);
  //! POSTs `body`; the answer's body on 2xx, else the mapped error.
  Result<std::string> Post(const std::string& call, const std::string& token,
                           const std::string& body, int read_timeout_ms);

  net::ServerUrl url_;
  HttpClientOptions options_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace drover::agent
