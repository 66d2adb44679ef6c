// `ebpfrun compile FILE.bpf.c -o OUT.o`: precompile a BPF C program for deployment.
#include <cstdio>

#include <fmt/format.h>

#include "build/build.h"
#include "cli/commands.h"
#include "common/files.h"
#include "common/log.h"

namespace ebpfrun::cli {

void add_source_flags(CLI::App& command, SourceFlags& flags) {
  command.add_option("file", flags.file, "BPF C source file")->required();
  command.add_option("-I,--include", flags.include_dirs, "add DIR to the include search path")
      ->type_name("DIR")
      ->allow_extra_args(false);
  command.add_option("-D,--define", flags.defines, "define macro NAME (optionally =VALUE)")
      ->type_name("NAME[=VAL]")
      ->allow_extra_args(false);
  command
      .add_option("-F,--filter", flags.filters,
                  "fill /*FILTER*/ placeholders: pid, tid, comm, comm_prefix, uid or cgroup (repeatable)")
      ->type_name("FIELD=VALUE")
      ->allow_extra_args(false);
}

compiler::CompileOutput compile_source(const SourceFlags& flags, const GlobalFlags& global, int& exit_code) {
  compiler::CompileOutput out;
  exit_code = kExitRuntimeError;
  auto spec = build::parse_filter_flags(flags.filters);
  if (!spec) {
    out.failure = spec.error();
    exit_code = kExitUsage;
    return out;
  }
  build::BuildRequest request;
  request.file = flags.file;
  request.filter = std::move(*spec);
  request.options.include_dirs = flags.include_dirs;
  request.options.defines = flags.defines;
  request.options.btf_path = global.btf_path;
  request.options.use_cache = !global.no_cache;
  if (flags.for_prebuilt) {
    request.filter_form = tmpl::FilterForm::full;
    request.use_prebuilt = false;
  }
  out = build::compile(request);
  if (out.ok()) {
    exit_code = kExitOk;
    // Warnings still go to the user, as clang would print them.
    if (!out.diagnostics.empty()) std::fputs(compiler::render(out.diagnostics).c_str(), stderr);
    const auto& s = out.stats;
    if (s.prebuilt)
      log::info("{}: prebuilt object (nothing compiled)", flags.file);
    else
      log::info("compiled {} in {:.1f} ms ({}{}{})", flags.file, s.total_ms,
                s.cache_hit ? "object cache hit" : "compiled", s.pch_built ? ", built precompiled header" : "",
                s.pch_used && !s.cache_hit ? ", used precompiled header" : "");
    if (!s.cache_note.empty()) log::info("{}", s.cache_note);
  }
  return out;
}

void register_compile(CLI::App& app, const GlobalFlags& global) {
  auto* command = app.add_subcommand("compile", "compile a BPF C file to a BPF object (ELF) for deployment");
  auto flags = std::make_shared<SourceFlags>();
  auto output = std::make_shared<std::string>();
  add_source_flags(*command, *flags);
  auto prebuilt_dir = std::make_shared<std::string>();
  auto* output_option = command->add_option("-o,--output", *output, "where to write the object")->type_name("OUT.o");
  command
      ->add_option("--prebuilt", *prebuilt_dir,
                   "write a prebuilt object into DIR, named for its source and defines, with every filter "
                   "field's check (how the build makes the shipped objects)")
      ->type_name("DIR")
      ->excludes(output_option);
  command->callback([flags, output, prebuilt_dir, &global] {
    if (output->empty() && prebuilt_dir->empty()) {
      log::error("compile: --output OUT.o (or --prebuilt DIR) is required");
      throw CLI::RuntimeError(kExitUsage);
    }
    if (!prebuilt_dir->empty() && !flags->filters.empty()) {
      log::error("compile: --prebuilt objects serve every filter, so they take no -F values");
      throw CLI::RuntimeError(kExitUsage);
    }
    flags->for_prebuilt = !prebuilt_dir->empty();
    if (flags->for_prebuilt) {
      auto source = files::read(flags->file);
      if (!source) {
        log::error("{}", source.error());
        throw CLI::RuntimeError(kExitRuntimeError);
      }
      *output = *prebuilt_dir + "/" + build::prebuilt_name(flags->file, *source, flags->defines);
    }
    int exit_code = kExitOk;
    auto out = compile_source(*flags, global, exit_code);
    if (!out.ok()) {
      std::fputs(out.error_message().c_str(), stderr);
      if (out.error_message().back() != '\n') std::fputc('\n', stderr);
      throw CLI::RuntimeError(exit_code);
    }
    if (auto written = files::write_atomic(*output, out.object); !written) {
      log::error("{}", written.error());
      throw CLI::RuntimeError(kExitRuntimeError);
    }
  });
}

}  // namespace ebpfrun::cli
