#include "worker/bundle_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <vector>

namespace volo::worker {
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxEntries = 1'000'000;

struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

Status Errno(const std::string& what) { return IoError(what + ": " + std::strerror(errno)); }

la_ssize_t AppendToString(archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

Status ArchiveError(archive* a, const std::string& what) {
  const char* msg = archive_error_string(a);
  return IoError(what + ": " + (msg ? msg : "libarchive failed"));
}

Status WriteFileData(archive* a, const std::string& path, int64_t size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Errno("cannot read " + path);
  std::vector<char> buf(1 << 20);
  int64_t done = 0;
  Status status = Status::Ok();
  while (status.ok()) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = Errno("cannot read " + path);
    } else if (n == 0) {
      break;
    } else if (done + n > size) {
      status = FailedPrecondition(path + " grew while it was being packed");
    } else if (archive_write_data(a, buf.data(), static_cast<size_t>(n)) != n) {
      status = ArchiveError(a, "packing " + path);
    } else {
      done += n;
    }
  }
  ::close(fd);
  if (status.ok() && done != size)
    status = FailedPrecondition(path + " shrank while it was being packed");
  return status;
}

// Splits a relative archive path into its components, dropping "." and empty ones; false for an
// absolute path or one with "..".
bool SafeComponents(std::string_view path, std::vector<std::string>* out) {
  out->clear();
  if (path.empty() || path.front() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view c = path.substr(start, slash - start);
    if (c == "..") return false;
    if (!c.empty() && c != ".") out->emplace_back(c);
    start = slash + 1;
  }
  return true;
}

std::string Join(const std::vector<std::string>& parts, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (i ? "/" : "") + parts[i];
  return s;
}

// True when `target`, read from the directory `link_dir` (components under the root), stays
// inside the root at every step.
bool TargetStaysInside(const std::vector<std::string>& link_dir, std::string_view target) {
  if (target.empty() || target.front() == '/') return false;
  long depth = static_cast<long>(link_dir.size());
  size_t start = 0;
  while (start <= target.size()) {
    size_t slash = target.find('/', start);
    if (slash == std::string_view::npos) slash = target.size();
    std::string_view c = target.substr(start, slash - start);
    if (c == "..") {
      if (--depth < 0) return false;
    } else if (!c.empty() && c != ".") {
      ++depth;
    }
    start = slash + 1;
  }
  return true;
}

Status MakeDirs(const std::string& root, const std::vector<std::string>& parts, size_t n) {
  std::string path = root;
  for (size_t i = 0; i < n; ++i) {
    path += "/" + parts[i];
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return Errno("cannot create " + path);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return InvalidArgument("bundle entry '" + Join(parts, i + 1) +
                             "' is both a directory and something else");
    }
  }
  return Status::Ok();
}

Status ExtractFile(archive* a, const std::string& path, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return Errno("cannot create " + path);
  Status status = Status::Ok();
  for (;;) {
    const void* buf;
    size_t size;
    la_int64_t offset;
    int r = archive_read_data_block(a, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      status = InvalidArgument(std::string("a damaged bundle archive: ") +
                               (archive_error_string(a) ? archive_error_string(a) : "bad data"));
      break;
    }
    const char* p = static_cast<const char*>(buf);
    while (size > 0) {
      ssize_t n = ::pwrite(fd, p, size, offset);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = Errno("cannot write " + path);
        break;
      }
      p += n;
      size -= static_cast<size_t>(n);
      offset += n;
    }
    if (!status.ok()) break;
  }
  if (::close(fd) != 0 && status.ok()) status = Errno("cannot write " + path);
  return status;
}

Status Unpack(archive* a, const std::string& dest, uint64_t max_bytes) {
  std::set<std::string> links;                                     // symlink entries, by path
  std::vector<std::pair<std::string, std::string>> pending_links;  // path, target
  uint64_t total = 0;
  size_t entries = 0;
  std::vector<std::string> parts;
  for (;;) {
    archive_entry* e;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      return InvalidArgument(std::string("not a bundle archive (a tar file): ") +
                             (archive_error_string(a) ? archive_error_string(a) : "unreadable"));
    }
    if (++entries > kMaxEntries) {
      return InvalidArgument("the bundle has more than " + std::to_string(kMaxEntries) +
                             " entries");
    }
    const char* raw = archive_entry_pathname(e);
    std::string name = raw ? raw : "";
    if (!SafeComponents(name, &parts)) {
      return InvalidArgument("bundle entry '" + name +
                             "' is refused: paths must be relative and must not contain '..'");
    }
    if (parts.empty()) continue;  // the root itself ("./")
    for (size_t i = 1; i <= parts.size(); ++i) {
      if (links.count(Join(parts, i))) {
        return InvalidArgument("bundle entry '" + name + "' is refused: it lies under a symlink");
      }
    }
    if (archive_entry_hardlink(e)) {
      return InvalidArgument("bundle entry '" + name + "' is refused: hard links are not allowed");
    }
    std::string path = dest + "/" + Join(parts, parts.size());
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFDIR) {
      VOLO_RETURN_IF_ERROR(MakeDirs(dest, parts, parts.size()));
    } else if (type == AE_IFREG) {
      int64_t size = archive_entry_size(e);
      if (size < 0 || total + static_cast<uint64_t>(size) > max_bytes) {
        return InvalidArgument("the bundle unpacks to more than " + std::to_string(max_bytes) +
                               " bytes");
      }
      total += static_cast<uint64_t>(size);
      VOLO_RETURN_IF_ERROR(MakeDirs(dest, parts, parts.size() - 1));
      mode_t mode = (archive_entry_perm(e) & 0111) ? 0755 : 0644;
      VOLO_RETURN_IF_ERROR(ExtractFile(a, path, mode));
    } else if (type == AE_IFLNK) {
      const char* t = archive_entry_symlink(e);
      std::string target = t ? t : "";
      std::vector<std::string> dir(parts.begin(), parts.end() - 1);
      if (!TargetStaysInside(dir, target)) {
        return InvalidArgument("bundle entry '" + name + "' is refused: a symlink to '" + target +
                               "' points outside the bundle");
      }
      links.insert(Join(parts, parts.size()));
      pending_links.emplace_back(path, target);
      VOLO_RETURN_IF_ERROR(MakeDirs(dest, parts, parts.size() - 1));
    } else {
      return InvalidArgument("bundle entry '" + name +
                             "' is refused: only files, directories and symlinks are allowed");
    }
  }
  // Links come last so that no entry was ever written through one.
  for (const auto& [path, target] : pending_links) {
    if (::symlink(target.c_str(), path.c_str()) != 0) return Errno("cannot create " + path);
  }
  // The lexical check above cannot see links chained through other links; the kernel can.
  char root_real[PATH_MAX];
  if (!::realpath(dest.c_str(), root_real)) return Errno("cannot resolve " + dest);
  std::string root = std::string(root_real) + "/";
  for (const auto& [path, target] : pending_links) {
    char real[PATH_MAX];
    if (!::realpath(path.c_str(), real) || (std::string(real) + "/").rfind(root, 0) != 0) {
      return InvalidArgument("bundle entry '" + path.substr(dest.size() + 1) +
                             "' is refused: the symlink to '" + target +
                             "' does not resolve inside the bundle");
    }
  }
  return Status::Ok();
}

void ChmodTree(const std::string& path, bool writable) {
  std::error_code ec;
  auto set = [&](const fs::path& p) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return;
    mode_t m = st.st_mode & 07777;
    ::chmod(p.c_str(), writable ? (m | S_IWUSR) : (m & ~mode_t{0222}));
  };
  if (writable) set(path);  // directories must be writable before their entries can go
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (writable) set(it->path());
  }
  if (!writable) {
    std::vector<fs::path> all;
    for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      all.push_back(it->path());
    }
    for (auto it = all.rbegin(); it != all.rend(); ++it) set(*it);
    set(path);
  }
}

}  // namespace

Result<std::string> PackBundle(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFound(dir + " is not a directory");
  std::vector<std::string> paths;
  // Lexically: fs::relative would resolve symlinks and name a link by its target.
  const fs::path base = fs::path(dir).lexically_normal();
  for (fs::recursive_directory_iterator it(base, fs::directory_options::none, ec), end;
       !ec && it != end; it.increment(ec)) {
    paths.push_back(it->path().lexically_relative(base).generic_string());
  }
  if (ec) return IoError("cannot list " + dir + ": " + ec.message());
  std::sort(paths.begin(), paths.end());

  std::string out;
  std::unique_ptr<archive, ArchiveWriteFree> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_per_block(a.get(), 10240);
  if (archive_write_open(a.get(), &out, nullptr, AppendToString, nullptr) != ARCHIVE_OK) {
    return ArchiveError(a.get(), "packing " + dir);
  }
  std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
  for (const std::string& rel : paths) {
    std::string full = dir + "/" + rel;
    struct stat st;
    if (::lstat(full.c_str(), &st) != 0) return Errno("cannot stat " + full);
    archive_entry_clear(e.get());
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_mtime(e.get(), 0, 0);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    if (S_ISDIR(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFDIR);
      archive_entry_set_perm(e.get(), 0755);
    } else if (S_ISREG(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_perm(e.get(), (st.st_mode & 0111) ? 0755 : 0644);
      archive_entry_set_size(e.get(), st.st_size);
    } else if (S_ISLNK(st.st_mode)) {
      std::vector<char> target(static_cast<size_t>(st.st_size) + 1);
      ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
      if (n < 0) return Errno("cannot read the link " + full);
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_perm(e.get(), 0777);
      archive_entry_set_symlink(e.get(),
                                std::string(target.data(), static_cast<size_t>(n)).c_str());
    } else {
      return InvalidArgument("cannot pack " + full +
                             ": only files, directories and symlinks go into a bundle");
    }
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) {
      return ArchiveError(a.get(), "packing " + full);
    }
    if (S_ISREG(st.st_mode)) VOLO_RETURN_IF_ERROR(WriteFileData(a.get(), full, st.st_size));
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return ArchiveError(a.get(), "packing " + dir);
  return out;
}

Status UnpackBundle(std::string_view archive_bytes, const std::string& dest, uint64_t max_bytes) {
  if (::mkdir(dest.c_str(), 0755) != 0) return Errno("cannot create " + dest);
  std::unique_ptr<archive, ArchiveReadFree> a(archive_read_new());
  archive_read_support_format_tar(a.get());
  Status s = Status::Ok();
  if (archive_read_open_memory(a.get(), archive_bytes.data(), archive_bytes.size()) != ARCHIVE_OK) {
    s = InvalidArgument(std::string("not a bundle archive (a tar file): ") +
                        (archive_error_string(a.get()) ? archive_error_string(a.get()) : ""));
  } else {
    s = Unpack(a.get(), dest, max_bytes);
  }
  if (!s.ok()) {
    RemoveTree(dest);
    return s;
  }
  ChmodTree(dest, /*writable=*/false);
  return Status::Ok();
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return;
  ChmodTree(path, /*writable=*/true);
  fs::remove_all(path, ec);
}

}  // namespace volo::worker
