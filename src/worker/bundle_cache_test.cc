#include "worker/bundle_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/sha256.h"
#include "worker/bundle_archive.h"
#include "worker/temp_dir_testing.h"

namespace volo::worker {
namespace {

namespace fs = std::filesystem;

// A planner's bundle store in a map, counting the fetches.
struct FakePlanner {
  std::map<std::string, std::string> bundles;
  std::atomic<int> fetches{0};
  std::string Add(const std::string& content) {
    TempDir src{"volo-bundle-cache"};
    std::ofstream(src.path() + "/file.txt") << content;
    std::string archive = std::move(PackBundle(src.path())).value();
    std::string id = Sha256Hex(archive);
    bundles[id] = archive;
    return id;
  }
  BundleCache::Fetch fetch() {
    return [this](const std::string& id) -> Result<std::string> {
      ++fetches;
      auto it = bundles.find(id);
      if (it == bundles.end()) return NotFound("the planner has no bundle " + id);
      return it->second;
    };
  }
};

std::string Read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(BundleCacheTest, ASecondTaskTransfersNothing) {
  TempDir dir{"volo-bundle-cache"};
  FakePlanner planner;
  std::string id = planner.Add("hello");
  BundleCache cache(dir.path(), 1 << 30, planner.fetch());
  {
    auto a = cache.Acquire(id);
    ASSERT_TRUE(a.ok()) << a.status().message();
    EXPECT_EQ(Read((*a)->dir() + "/file.txt"), "hello");
    auto b = cache.Acquire(id);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ((*b)->dir(), (*a)->dir());
  }
  auto c = cache.Acquire(id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(planner.fetches, 1);
  BundleCacheStats st = cache.stats();
  EXPECT_EQ(st.fetches, 1);
  EXPECT_EQ(st.hits, 2);
  EXPECT_EQ(st.bytes_fetched, static_cast<int64_t>(planner.bundles[id].size()));
}

TEST(BundleCacheTest, ConcurrentTasksShareOneFetch) {
  TempDir dir{"volo-bundle-cache"};
  FakePlanner planner;
  std::string id = planner.Add("shared");
  BundleCache cache(dir.path(), 1 << 30, planner.fetch());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (cache.Acquire(id).ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(planner.fetches, 1);
}

TEST(BundleCacheTest, ClearErrors) {
  TempDir dir{"volo-bundle-cache"};
  FakePlanner planner;
  BundleCache cache(dir.path(), 1 << 30, planner.fetch());
  auto unknown = cache.Acquire(Sha256Hex("never pushed"));
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("the planner has no bundle"), std::string::npos);
  EXPECT_EQ(cache.Acquire("../../etc").status().code(), StatusCode::kInvalidArgument);
  // Bytes that are not what the id names.
  std::string id = planner.Add("real");
  planner.bundles[id] = std::move(planner.bundles[planner.Add("fake")]);
  EXPECT_EQ(cache.Acquire(id).status().code(), StatusCode::kCorruption);
  // A bad archive under its true hash.
  std::string junk(3000, 'j');
  planner.bundles[Sha256Hex(junk)] = junk;
  auto bad = cache.Acquire(Sha256Hex(junk));
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("not a bundle archive"), std::string::npos);
  EXPECT_EQ(cache.stats().bundles, 0);
}

TEST(BundleCacheTest, EvictsTheLeastRecentlyUsedButNeverOneInUse) {
  TempDir dir{"volo-bundle-cache"};
  FakePlanner planner;
  std::string a = planner.Add("a"), b = planner.Add("b"), c = planner.Add("c");
  int64_t one = static_cast<int64_t>(planner.bundles[a].size());
  // Room for two bundles.
  BundleCache cache(dir.path(), 2 * one, planner.fetch());
  auto held = std::move(cache.Acquire(a)).value();  // held throughout
  ASSERT_TRUE(cache.Acquire(b).ok());
  ASSERT_TRUE(cache.Acquire(c).ok());  // over the cap: b goes (a is in use, though older)
  EXPECT_TRUE(fs::exists(dir.path() + "/" + a));
  EXPECT_FALSE(fs::exists(dir.path() + "/" + b));
  EXPECT_TRUE(fs::exists(dir.path() + "/" + c));
  EXPECT_EQ(cache.stats().evictions, 1);
  held.reset();
  ASSERT_TRUE(cache.Acquire(c).ok());  // c is now the most recent; a is released
  ASSERT_TRUE(cache.Acquire(b).ok());  // fetched again; a goes
  EXPECT_FALSE(fs::exists(dir.path() + "/" + a));
  EXPECT_EQ(planner.fetches, 4);
  EXPECT_EQ(cache.stats().bundles, 2);
}

TEST(BundleCacheTest, TaskDirectoriesAreFreshAndRemoved) {
  TempDir dir{"volo-bundle-cache"};
  FakePlanner planner;
  BundleCache cache(dir.path(), 1 << 20, planner.fetch());
  auto d1 = cache.MakeTaskDir();
  auto d2 = cache.MakeTaskDir();
  ASSERT_TRUE(d1.ok() && d2.ok());
  EXPECT_NE(*d1, *d2);
  std::ofstream(*d1 + "/out.txt") << "result";
  BundleCache::RemoveTaskDir(*d1);
  EXPECT_FALSE(fs::exists(*d1));
  // A restarted worker clears what the previous one left, and nothing else of the user's.
  std::ofstream(dir.path() + "/keep.txt") << "mine";
  BundleCache again(dir.path(), 1 << 20, planner.fetch());
  EXPECT_FALSE(fs::exists(*d2));
  EXPECT_TRUE(fs::exists(dir.path() + "/keep.txt"));
}

}  // namespace
}  // namespace volo::worker
