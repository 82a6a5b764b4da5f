#include "planner/bundle_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/sha256.h"

namespace volo::planner {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/volo-bundle-store-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(BundleStoreTest, VerifiesHashAndLimit) {
  auto store = std::move(BundleStore::Open("", 10, 0)).value();
  EXPECT_EQ(store->Put(Sha256Hex("abc"), "abd", 0).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(store->Put(Sha256Hex("abc"), "abc", 0).ok());
  EXPECT_TRUE(store->Put(Sha256Hex("abc"), "abc", 0).ok());  // again: a no-op
  EXPECT_EQ(store->bytes(), 3u);
  EXPECT_EQ(store->Put(Sha256Hex("12345678"), "12345678", 0).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(*store->Read(Sha256Hex("abc")), "abc");
  EXPECT_EQ(store->Read(Sha256Hex("x")).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store->Remove(Sha256Hex("abc")).ok());
  EXPECT_EQ(store->bytes(), 0u);
  EXPECT_EQ(store->Remove(Sha256Hex("abc")).code(), StatusCode::kNotFound);
}

TEST(BundleStoreTest, SurvivesARestartOnDisk) {
  TempDir dir;
  std::string id = Sha256Hex("payload");
  {
    auto store = std::move(BundleStore::Open(dir.path() + "/bundles", 1 << 20, 100)).value();
    ASSERT_TRUE(store->Put(id, "payload", 100).ok());
  }
  // An upload a crash cut short is cleaned away, not adopted.
  std::ofstream(dir.path() + "/bundles/" + id + ".tmp") << "half";
  auto store = std::move(BundleStore::Open(dir.path() + "/bundles", 1 << 20, 200)).value();
  ASSERT_TRUE(store->Has(id));
  EXPECT_EQ(*store->Read(id), "payload");
  EXPECT_EQ(store->bytes(), 7u);
  EXPECT_FALSE(fs::exists(dir.path() + "/bundles/" + id + ".tmp"));
  ASSERT_TRUE(store->Remove(id).ok());
  EXPECT_FALSE(fs::exists(dir.path() + "/bundles/" + id));
}

TEST(BundleStoreTest, CollectsOnlyUnreferencedBundlesPastTheGrace) {
  auto store = std::move(BundleStore::Open("", 1 << 20, 0)).value();
  std::string used = Sha256Hex("used"), idle = Sha256Hex("idle"), fresh = Sha256Hex("fresh");
  ASSERT_TRUE(store->Put(used, "used", 0).ok());
  ASSERT_TRUE(store->Put(idle, "idle", 0).ok());
  ASSERT_TRUE(store->Put(fresh, "fresh", 90).ok());
  auto referenced = [&](const std::string& id) { return id == used; };
  EXPECT_TRUE(store->Collect(referenced, 50, 60).empty());  // within the grace
  auto removed = store->Collect(referenced, 100, 60);
  EXPECT_EQ(removed, std::vector<std::string>{idle});
  EXPECT_TRUE(store->Has(used));
  EXPECT_TRUE(store->Has(fresh));
  // Once no task names it any more, a bundle lasts the grace from the last time one did.
  EXPECT_TRUE(store->Collect([](const std::string&) { return false; }, 150, 60).empty());
  removed = store->Collect([](const std::string&) { return false; }, 170, 60);
  EXPECT_EQ(removed.size(), 2u);
}

}  // namespace
}  // namespace volo::planner
