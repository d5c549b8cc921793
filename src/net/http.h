// What every client of the drover server shares (the agent, a worker's
// runtime, the CLI): parsing the server's URL, a configured HTTP client, and
// the mapping of HTTP answers and transport errors to Status. No dependency
// on the agent or the server: the training runtime links this, not them.
#pragma once

#include <memory>
#include <string>

#include <httplib.h>

#include "common/status.h"

namespace drover::net {

//! The parts of a server URL. Pure.
struct ServerUrl {
  std::string scheme;       //!< "http" or "https"
  std::string host_port;    //!< "host", "host:8080", "[::1]:8080"
  std::string path_prefix;  //!< "" or "/drover" (no trailing slash)
};
//! "http[s]://host[:port][/prefix]". Errors: kInvalidArgument naming what is wrong with the URL.
Result<ServerUrl> ParseServerUrl(const std::string& url);

//! How a client trusts the server over HTTPS.
struct TlsOptions {
  bool insecure = false;  //!< skip certificate verification
  std::string ca_cert;    //!< PEM file of the CA that signed the server's certificate; empty: the system's store
};
//! A client of `url` with keep-alive and TCP_NODELAY (small JSON requests
//! must not wait for delayed ACKs), verifying HTTPS as `tls` says.
std::unique_ptr<httplib::Client> NewClient(const ServerUrl& url, const TlsOptions& tls);

//! An HTTP answer to `call` as a Status (OK for 2xx), with the server's
//! `{"error": ...}` message: 400 kInvalidArgument, 401 kUnauthenticated, 403
//! kPermissionDenied, 404 kNotFound, 5xx/408/429 kUnavailable, others kInternal.
Status StatusFromHttp(const std::string& call, int http_status, const std::string& body);
//! A transport error in words ("cannot connect", "TLS handshake failed", ...).
std::string DescribeError(httplib::Error e);

}  // namespace drover::net
