// For the worker's tests: a fresh directory under /tmp, removed with everything in it (also
// what a test made read-only) when the TempDir goes.
#pragma once

#include <stdlib.h>

#include <string>

#include "worker/bundle_archive.h"

namespace volo::worker {

class TempDir {
 public:
  // `prefix` names the test in /tmp ("volo-sandbox" gives /tmp/volo-sandbox-XXXXXX).
  explicit TempDir(const std::string& prefix = "volo-test") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) RemoveTree(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // Empty when it could not be made.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace volo::worker
