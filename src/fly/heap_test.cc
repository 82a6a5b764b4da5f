// The Heap: reference cycles left when a run ends are freed, everything still held from
// outside survives and stays usable, and the --max-memory error path releases what it held.
#include "fly/heap.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <thread>

#include "fly/compiler.h"
#include "fly/interpreter.h"
#include "fly/memory.h"
#include "fly/runtime.h"
#include "fly/value.h"
#include "fly/vm.h"

namespace volo::fly {
namespace {

Value Str(const char* s) { return MakeString(s); }

TEST(Heap, OnlyContainersMadeUnderAScopeRegister) {
  Heap heap;
  Value outside = MakeArray();
  {
    HeapScope scope(&heap);
    EXPECT_EQ(CurrentHeap(), &heap);
    Value a = MakeArray({Str("s")});
    Value m = MakeMap();
    EXPECT_EQ(heap.Registered(), 2u);
    Release(a);
    Release(m);
    EXPECT_EQ(heap.Registered(), 0u);
  }
  EXPECT_EQ(CurrentHeap(), nullptr);
  EXPECT_EQ(heap.Registered(), 0u);
  Release(outside);
}

TEST(Heap, CollectFreesCyclesNothingOutsideHolds) {
  Heap heap;
  HeapScope scope(&heap);
  // A map that holds itself, an array that holds itself, and a two-map ring whose members also
  // hold a string and a plain array (freed with them).
  Value m = MakeMap();
  Retain(m);
  AsMap(m)->m.Set(Str("self"), m);
  Value a = MakeArray({Value::Int(1)});
  Retain(a);
  AsArray(a)->v.push_back(a);
  Value x = MakeMap(), y = MakeMap();
  Retain(x);
  Retain(y);
  AsMap(x)->m.Set(Str("next"), y);
  AsMap(y)->m.Set(Str("next"), x);
  AsMap(x)->m.Set(Str("tail"), MakeArray({Str("t")}));
  // A container used as a map key takes part too.
  Value k = MakeArray();
  Retain(k);
  Retain(k);
  AsMap(x)->m.Set(k, k);  // takes two references; ours is released below
  Release(m);
  Release(a);
  Release(x);
  Release(y);
  Release(k);
  EXPECT_EQ(heap.Registered(), 6u);  // counting alone keeps them all
  EXPECT_EQ(heap.Collect(), 6u);
  EXPECT_EQ(heap.Registered(), 0u);
  // The Heap registers again afterwards.
  Value again = MakeArray();
  EXPECT_EQ(heap.Registered(), 1u);
  Release(again);
}

TEST(Heap, WhatTheOutsideHoldsSurvivesWithEverythingItReaches) {
  Heap heap;
  Value kept, reached;
  {
    HeapScope scope(&heap);
    kept = MakeMap();  // like a global the REPL keeps, or a result handed on
    reached = MakeArray({Value::Int(7)});
    Retain(reached);
    AsMap(kept)->m.Set(Str("list"), reached);
    Retain(kept);
    AsMap(kept)->m.Set(Str("self"), kept);  // a cycle, but held from outside
    // Garbage that refers to the kept map: freeing it must leave the map's count right.
    Value ring = MakeArray();
    Retain(ring);
    AsArray(ring)->v.push_back(ring);
    Retain(kept);
    AsArray(ring)->v.push_back(kept);
    Release(ring);
    Release(reached);
  }
  EXPECT_EQ(heap.Collect(), 1u);  // the ring only
  EXPECT_EQ(kept.o->rc, 2u);      // ours and its own "self"
  EXPECT_EQ(ToString(kept), "{list=[7], self={...}}");
  // Detached: values outliving the Heap are freed by their counts as before.
  Value self = Str("self");
  AsMap(kept)->m.Remove(self);  // borrows the key
  Release(self);
  Release(kept);
}

TEST(Heap, ContainersFreedOnAnotherThreadLeaveTheirShard) {
  Heap heap;
  Value made[2];
  std::thread maker([&] {
    HeapScope scope(&heap);
    made[0] = MakeArray({Str("from a thread")});
    made[1] = MakeMap();
  });
  maker.join();
  {
    HeapScope scope(&heap);
    Value local = MakeArray();
    EXPECT_EQ(heap.Registered(), 3u);
    Release(local);
  }
  Release(made[0]);  // on this thread, from the other thread's shard
  Release(made[1]);
  EXPECT_EQ(heap.Registered(), 0u);
  EXPECT_EQ(heap.Collect(), 0u);
}

TEST(Heap, RunsFreeTheirCyclesAndSurviveThemInInstances) {
  // Cycles on the top level, in fly instances, and in values sent between them; under
  // LeakSanitizer (make test-asan) anything left would fail the test.
  std::string src = R"(var local = [type="smp", nthread=2]
var ch = [type="channel"] on local
func make(i) {
  var m = {n = i}
  m.self = m
  var a = [m]
  a.add(a)
  return i
}
func sum(rs) { println rs.size() }
fly make in [0:4] on local thenall sum
var top = {n = 0}
top.self = top
var list = [top]
list.add(list)
top.list = list
println top.n
)";
  RunOptions options;
  options.file = "cycles.fly";
  std::ostringstream out, err;
  EXPECT_EQ(RunSource(options, src, out, err), 0) << err.str();
  EXPECT_EQ(out.str(), "4\n0\n");
}

TEST(Heap, RunningOutOfMemoryReleasesTheOperandStack) {
  std::vector<Diagnostic> diags;
  auto program = CompileSource("grow.fly", R"(func grow() {
  var a = [0]
  var m = {k = a}
  while (true) { a.add(a.size()) }
}
grow()
)",
                               diags);
  ASSERT_FALSE(HasErrors(diags));
  RunOptions options;
  options.file = "grow.fly";
  std::ostringstream out, err;
  Runtime rt(*program, options, out, err);
  SetMemoryLimit(uint64_t{64} << 20);
  {
    Vm vm(rt);
    Value result;
    EXPECT_FALSE(vm.Call(0, nullptr, 0, &result));
    EXPECT_NE(vm.error().find("out of memory"), std::string::npos) << vm.error();
    // The array and the map lived in grow's locals: released with the stack, not leaked.
    EXPECT_EQ(rt.heap().Registered(), 0u);
  }
  SetMemoryLimit(0);
  rt.RemoveActive();
}

}  // namespace
}  // namespace volo::fly
