// The VM's out-of-line operations: everything the dispatch loop does not inline. Each returns
// false after recording an error with vm.Fail(...). Unless stated otherwise, inputs are
// borrowed (the loop releases them) and *out receives a new reference.
#pragma once

#include "fly/chunk.h"
#include "fly/stdlib.h"
#include "fly/value.h"
#include "fly/vm.h"

namespace volo::fly {

// Arithmetic and comparison beyond the int/double fast paths. `op` is kAdd..kGe.
bool ArithSlow(Vm& vm, Op op, Value a, Value b, Value* out);
bool CompareSlow(Vm& vm, Op op, Value a, Value b, bool* out);

bool IndexGet(Vm& vm, Value obj, Value key, Value* out);
bool IndexSet(Vm& vm, Value obj, Value key, Value val);  // retains what it stores
bool FieldGet(Vm& vm, Value obj, const std::string& name, Value* out);
bool FieldSet(Vm& vm, Value obj, const std::string& name, Value val);
bool SliceGet(Vm& vm, Value obj, Value lo, Value hi, Value* out);
bool CellGet(Vm& vm, Value df, Value row, Value col, Value* out);
bool MakeSizedArray(Vm& vm, const Value* dims, int n, CastType type, Value* out);
bool SortMap(Vm& vm, Value m, bool desc);

// Iteration: IterPrep checks (and for files, loads) the iterable in place; IterStep produces
// item number *pos (advancing *pos past removed map entries), or returns false in *has.
bool IterPrep(Vm& vm, Value* v);
bool IterStep(Vm& vm, Value it, int64_t* pos, bool* has, Value* item);

bool CallMethod(Vm& vm, MethodId id, const std::string& name, Value* args, int argc, Value* out);
bool CallMath(Vm& vm, MathId id, Value* args, int argc, Value* out);
bool CastValue(Vm& vm, CastType type, Value v, Value* out);
bool TimeCall(Vm& vm, Value* args, int argc, Value* out);

// Declaration objects ([type="random"], channels, environments, files, dataframes).
bool MakeDomain(Vm& vm, const DeclSite& site, Value* vals, Value* out);
// The fly statement: args[0] is the environment, then the inputs.
bool RunFly(Vm& vm, const FlySite& site, Value* args, Value* out);
// h.wait(): waits for an async fly (and runs its thenall callback).
bool WaitHandle(Vm& vm, HandleObj* h, Value* out);
bool HandleDone(HandleObj* h);
// At the end of the top-level code: waits for the async flies nobody waited for.
bool FinishAsyncJobs(Vm& vm);
// After the top-level code failed (the REPL goes on): waits until every async fly has ended,
// ignoring their results and errors. Interrupt the Runtime first to stop them early.
void DrainAsyncJobs(Vm& vm);

}  // namespace volo::fly
