// SHA-256 of a byte string as 64 lowercase hex digits (OpenSSL). Content-addressed blobs use it.
#pragma once

#include <string>
#include <string_view>

namespace volo {

std::string Sha256Hex(std::string_view data);

}  // namespace volo
