#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <fstream>
#include <map>
#include <mutex>
#include <utility>

#include "net/client.h"
#include "net/stream.h"

namespace volo::net {

namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;

namespace {

// Process-wide client TLS state: the defaults and one context per distinct options. Both are
// written rarely (startup) and read per connection, from any thread (HttpFetch runs anywhere).
struct ClientTlsState {
  std::mutex mu;
  TlsClientOptions defaults;
  std::map<std::pair<std::string, bool>, std::shared_ptr<ssl::context>> contexts;
};

ClientTlsState& TlsState() {
  static auto* state = new ClientTlsState;  // never destroyed: clients may run during exit
  return *state;
}

// Reads nothing but checks the file is there and readable, so that the error can say so
// instead of OpenSSL's less helpful "no such file" buried in a PEM error.
Status CheckReadable(const std::string& what, const std::string& path) {
  std::ifstream in(path);
  if (!in) return IoError("cannot read " + what + " '" + path + "'");
  return Status::Ok();
}

std::string OpenSslError(const beast::error_code& ec) {
  std::string message = ec.message();
  return message.empty() ? "unknown OpenSSL error" : message;
}

}  // namespace

Status SetDefaultTlsClientOptions(TlsClientOptions options) {
  // Build (and cache) the context now, so a bad ca_file fails here and not on first use.
  auto context = internal::ClientTlsContext(options);
  if (!context.ok()) return context.status();
  ClientTlsState& state = TlsState();
  std::lock_guard lock(state.mu);
  state.defaults = std::move(options);
  return Status::Ok();
}

TlsClientOptions DefaultTlsClientOptions() {
  ClientTlsState& state = TlsState();
  std::lock_guard lock(state.mu);
  return state.defaults;
}

namespace internal {

Result<std::shared_ptr<ssl::context>> MakeServerTlsContext(const std::string& cert_file,
                                                           const std::string& key_file) {
  if (cert_file.empty() || key_file.empty()) {
    return InvalidArgument("TLS needs both a certificate file and a key file (got only the " +
                           std::string(cert_file.empty() ? "key" : "certificate") + ")");
  }
  VOLO_RETURN_IF_ERROR(CheckReadable("TLS certificate file", cert_file));
  VOLO_RETURN_IF_ERROR(CheckReadable("TLS key file", key_file));
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  beast::error_code ec;
  context->use_certificate_chain_file(cert_file, ec);
  if (ec) {
    return InvalidArgument("TLS certificate file '" + cert_file +
                           "' holds no usable PEM certificate chain: " + OpenSslError(ec));
  }
  context->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec && ec.category() == boost::asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
    return InvalidArgument("TLS key file '" + key_file + "' does not match the certificate in '" +
                           cert_file + "'");
  }
  if (ec) {
    return InvalidArgument("TLS key file '" + key_file +
                           "' holds no usable PEM private key: " + OpenSslError(ec));
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    ERR_clear_error();
    return InvalidArgument("TLS key file '" + key_file + "' does not match the certificate in '" +
                           cert_file + "'");
  }
  return context;
}

Result<std::shared_ptr<ssl::context>> ClientTlsContext(const TlsClientOptions& options) {
  ClientTlsState& state = TlsState();
  const auto key = std::make_pair(options.ca_file, options.insecure_skip_verify);
  {
    std::lock_guard lock(state.mu);
    if (auto it = state.contexts.find(key); it != state.contexts.end()) return it->second;
  }
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  beast::error_code ec;
  if (options.insecure_skip_verify) {
    context->set_verify_mode(ssl::verify_none);
  } else {
    context->set_verify_mode(ssl::verify_peer);
    // A missing system store is not fatal: the ca_file may be all that is needed.
    context->set_default_verify_paths(ec);
    if (!options.ca_file.empty()) {
      VOLO_RETURN_IF_ERROR(CheckReadable("TLS CA file", options.ca_file));
      context->load_verify_file(options.ca_file, ec);
      if (ec) {
        return InvalidArgument("TLS CA file '" + options.ca_file +
                               "' holds no usable PEM certificate: " + OpenSslError(ec));
      }
    }
  }
  std::lock_guard lock(state.mu);
  auto [it, inserted] = state.contexts.emplace(key, std::move(context));
  return it->second;
}

Status PrepareClientTls(Stream::TlsStream& stream, const std::string& host,
                        const TlsClientOptions& options) {
  beast::error_code ec;
  boost::asio::ip::make_address(host, ec);
  const bool is_ip = !ec;
  // RFC 6066: SNI carries host names only, never address literals.
  if (!is_ip && SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()) != 1) {
    ERR_clear_error();
    return InvalidArgument("cannot use '" + host + "' as a TLS server name");
  }
  if (!options.insecure_skip_verify) {
    // OpenSSL's own check, so a mismatch reports X509_V_ERR_HOSTNAME/IP_ADDRESS_MISMATCH.
    X509_VERIFY_PARAM* param = SSL_get0_param(stream.native_handle());
    const int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                         : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    if (ok != 1) {
      ERR_clear_error();
      return InvalidArgument("cannot verify a TLS certificate for '" + host + "'");
    }
  }
  return Status::Ok();
}

std::string TlsHandshakeError(Stream::TlsStream& stream, const beast::error_code& ec) {
  std::string message = OpenSslError(ec);
  const long verify = SSL_get_verify_result(stream.native_handle());
  if (verify != X509_V_OK) {
    message = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify) +
              " (trust the server's CA with a CA file, or skip verification explicitly)";
  }
  return "TLS handshake failed (TLS/certificate problem): " + message;
}

}  // namespace internal

}  // namespace volo::net
