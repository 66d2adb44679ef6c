// `ebpfrun check FILE.bpf.c`: compile, load into the kernel (nothing is
// attached), report what was created, and unload. Proves a probe passes the
// verifier on this kernel before it is deployed.
#include <fmt/format.h>

#include "build/build.h"
#include "cli/commands.h"
#include "common/log.h"

namespace ebpfrun::cli {

void register_check(CLI::App& app, const GlobalFlags& global) {
  auto* command = app.add_subcommand("check",
                                     "compile a BPF C file, load it into the kernel without attaching, "
                                     "print its programs and maps, and unload it");
  auto flags = std::make_shared<SourceFlags>();
  add_source_flags(*command, *flags);
  command->callback([flags, &global] {
    int exit_code = kExitOk;
    auto out = compile_source(*flags, global, exit_code);
    if (!out.ok()) {
      std::fputs(out.error_message().c_str(), stderr);
      if (out.error_message().back() != '\n') std::fputc('\n', stderr);
      throw CLI::RuntimeError(exit_code);
    }
    const auto& s = out.stats;
    fmt::print("compiled {}: {} bytes of BPF ELF, {} in {:.1f} ms\n", flags->file, out.object.size(),
               s.prebuilt    ? "prebuilt object"
               : s.cache_hit ? "from the object cache"
                             : (s.pch_used ? "compiled with the precompiled header" : "compiled"),
               s.total_ms);
    auto object = build::load(out.object, flags->file);
    if (!object) {
      log::error("{}", object.error());
      throw CLI::RuntimeError(kExitRuntimeError);
    }
    // An object without programs passes nothing through the verifier: an
    // empty file (or /dev/null) is not a successful check.
    if (object->programs().empty()) {
      log::error("{} has no BPF programs (no function in a SEC(\"...\") section): nothing to check", flags->file);
      throw CLI::RuntimeError(kExitRuntimeError);
    }
    for (const auto& p : object->programs())
      fmt::print("  program {:<24} {:<12} {:>5} insns  kernel id {}  section {}\n", p.name, p.type, p.instructions,
                 p.id, p.section);
    for (const auto& m : object->maps())
      fmt::print("  map     {:<24} {:<12} key {} B, value {} B, max {} entries  kernel id {}\n", m.name, m.type,
                 m.key_size, m.value_size, m.max_entries, m.id);
    object->close();
    fmt::print("loaded into the kernel and unloaded again; nothing was attached\n");
  });
}

}  // namespace ebpfrun::cli
