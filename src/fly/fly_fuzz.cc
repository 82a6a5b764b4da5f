// libFuzzer target: any input must go through the lexer, parser, resolver, compiler and
// disassembler without crashing, hanging or leaking (the VM is not run: programs may loop).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fly/compiler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view source(reinterpret_cast<const char*>(data), size);
  std::vector<volo::fly::Diagnostic> diags;
  auto program = volo::fly::CompileSource("fuzz.fly", source, diags);
  if (!volo::fly::HasErrors(diags)) {
    std::string text = volo::fly::Disassemble(*program);
    (void)text;
  } else {
    std::string text = volo::fly::FormatDiagnostics("fuzz.fly", source, diags);
    (void)text;
  }
  return 0;
}
