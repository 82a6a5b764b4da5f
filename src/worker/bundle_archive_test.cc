#include "worker/bundle_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "worker/temp_dir_testing.h"

namespace volo::worker {
namespace {

namespace fs = std::filesystem;

void Write(const std::string& path, const std::string& text, mode_t mode = 0644) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

std::string Read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// An archive built entry by entry, for the hostile cases a packer never makes.
class Forge {
 public:
  Forge() : a_(archive_write_new()) {
    archive_write_set_format_pax_restricted(a_);
    archive_write_open(a_, &out_, nullptr, Append, nullptr);
  }
  ~Forge() { archive_write_free(a_); }
  Forge& File(const std::string& path, const std::string& data) {
    archive_entry* e = Entry(path, AE_IFREG, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_write_header(a_, e);
    archive_write_data(a_, data.data(), data.size());
    archive_entry_free(e);
    return *this;
  }
  Forge& Dir(const std::string& path) { return Plain(path, AE_IFDIR); }
  Forge& Fifo(const std::string& path) { return Plain(path, AE_IFIFO); }
  Forge& Symlink(const std::string& path, const std::string& target) {
    archive_entry* e = Entry(path, AE_IFLNK, 0777);
    archive_entry_set_symlink(e, target.c_str());
    archive_write_header(a_, e);
    archive_entry_free(e);
    return *this;
  }
  Forge& Hardlink(const std::string& path, const std::string& target) {
    archive_entry* e = Entry(path, AE_IFREG, 0644);
    archive_entry_set_hardlink(e, target.c_str());
    archive_write_header(a_, e);
    archive_entry_free(e);
    return *this;
  }
  std::string Bytes() {
    archive_write_close(a_);
    return out_;
  }

 private:
  static la_ssize_t Append(archive*, void* out, const void* buf, size_t n) {
    static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  }
  archive_entry* Entry(const std::string& path, unsigned type, int perm) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    return e;
  }
  Forge& Plain(const std::string& path, unsigned type) {
    archive_entry* e = Entry(path, type, 0755);
    archive_write_header(a_, e);
    archive_entry_free(e);
    return *this;
  }
  archive* a_;
  std::string out_;
};

TEST(BundleArchiveTest, PackingIsDeterministic) {
  TempDir a{"volo-bundle"}, b{"volo-bundle"};
  for (const auto* d : {&a, &b}) {
    Write(d->path() + "/src/main.py", "print('hi')\n");
    Write(d->path() + "/run.sh", "#!/bin/sh\necho run\n", 0700);
    Write(d->path() + "/data/x.csv", "1,2\n", 0600);
    fs::create_symlink("src/main.py", d->path() + "/main");
  }
  // Times and the group/other bits differ; the archives must not.
  ::chmod((b.path() + "/data/x.csv").c_str(), 0664);
  struct timespec times[2] = {{12345, 0}, {12345, 0}};
  ::utimensat(AT_FDCWD, (b.path() + "/run.sh").c_str(), times, 0);
  auto pa = PackBundle(a.path());
  auto pb = PackBundle(b.path());
  ASSERT_TRUE(pa.ok()) << pa.status().message();
  ASSERT_TRUE(pb.ok()) << pb.status().message();
  EXPECT_EQ(*pa, *pb);
  Write(b.path() + "/data/x.csv", "1,3\n");
  EXPECT_NE(*pa, *PackBundle(b.path()));
}

TEST(BundleArchiveTest, RoundTripIsReadOnly) {
  TempDir src{"volo-bundle"}, dst{"volo-bundle"};
  Write(src.path() + "/bin/tool", "#!/bin/sh\necho tool\n", 0755);
  Write(src.path() + "/lib/data.txt", "payload");
  fs::create_directories(src.path() + "/empty");
  fs::create_symlink("../lib/data.txt", src.path() + "/bin/data");
  auto packed = PackBundle(src.path());
  ASSERT_TRUE(packed.ok()) << packed.status().message();
  std::string out = dst.path() + "/b";
  Status unpacked = UnpackBundle(*packed, out, 1 << 20);
  ASSERT_TRUE(unpacked.ok()) << unpacked.message();
  EXPECT_EQ(Read(out + "/lib/data.txt"), "payload");
  EXPECT_EQ(Read(out + "/bin/data"), "payload");
  EXPECT_TRUE(fs::is_directory(out + "/empty"));
  struct stat st;
  ASSERT_EQ(::stat((out + "/bin/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0555u);
  ASSERT_EQ(::stat((out + "/lib/data.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  ASSERT_EQ(::stat((out + "/lib").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);
  RemoveTree(out);
  EXPECT_FALSE(fs::exists(out));
}

TEST(BundleArchiveTest, PackingRefusesSpecialFiles) {
  TempDir src{"volo-bundle"};
  ASSERT_EQ(::mkfifo((src.path() + "/pipe").c_str(), 0644), 0);
  auto packed = PackBundle(src.path());
  EXPECT_EQ(packed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PackBundle(src.path() + "/missing").status().code(), StatusCode::kNotFound);
}

struct Hostile {
  const char* name;
  std::string archive;
  const char* why;
};

TEST(BundleArchiveTest, RefusesHostileArchives) {
  std::vector<Hostile> cases = {
      {"dotdot", Forge().File("../escape", "x").Bytes(), "must not contain '..'"},
      {"nested dotdot", Forge().Dir("a").File("a/../../escape", "x").Bytes(), "'..'"},
      {"absolute", Forge().File("/tmp/volo-absolute-escape", "x").Bytes(), "must be relative"},
      {"symlink out", Forge().Symlink("link", "../../etc/passwd").Bytes(), "points outside"},
      {"absolute symlink", Forge().Symlink("link", "/etc/passwd").Bytes(), "points outside"},
      {"write through a symlink", Forge().Symlink("d", ".").File("d/x", "x").Bytes(),
       "under a symlink"},
      {"chained symlinks", Forge().Symlink("a", ".").Symlink("b", "a/../x").Bytes(),
       "does not resolve inside"},
      {"hard link", Forge().File("f", "x").Hardlink("g", "/etc/passwd").Bytes(), "hard links"},
      {"fifo", Forge().Fifo("pipe").Bytes(), "only files, directories and symlinks"},
      {"garbage", std::string(4096, 'z'), "not a bundle archive"},
      {"too large", Forge().File("big", std::string(2048, 'b')).Bytes(), "more than 1024 bytes"},
  };
  for (const auto& c : cases) {
    TempDir dst{"volo-bundle"};
    std::string out = dst.path() + "/b";
    Status s = UnpackBundle(c.archive, out, 1024);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.name << ": " << s.message();
    EXPECT_NE(s.message().find(c.why), std::string::npos) << c.name << ": " << s.message();
    EXPECT_FALSE(fs::exists(out)) << c.name << ": a refused bundle leaves nothing behind";
    EXPECT_FALSE(fs::exists(dst.path() + "/escape")) << c.name;
    EXPECT_FALSE(fs::exists(dst.path() + "/x")) << c.name;
  }
  EXPECT_FALSE(fs::exists("/tmp/volo-absolute-escape"));
}

}  // namespace
}  // namespace volo::worker
