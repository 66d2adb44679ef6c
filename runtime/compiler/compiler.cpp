#include "compiler/compiler.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <regex>

#include <fmt/format.h>

#include "btf/vmlinux_header.h"
#include "common/files.h"
#include "common/hash.h"
#include "common/log.h"
#include "compiler/embedded_headers.h"
#include "compiler/internal/backend_loader.h"
#include "compiler/internal/cache_artifacts.h"
#include "compiler/object_cache.h"

#ifndef EBPFRUN_CLANG_VERSION
#error "EBPFRUN_CLANG_VERSION must be defined by the build"
#endif
#ifndef EBPFRUN_CLANG_RESOURCE_DIR
#error "EBPFRUN_CLANG_RESOURCE_DIR must be defined by the build"
#endif
#ifndef EBPFRUN_MULTIARCH_INCLUDE_DIR
#error "EBPFRUN_MULTIARCH_INCLUDE_DIR must be defined by the build"
#endif

namespace ebpfrun::compiler {
namespace {

// EBPFRUN_BTF names the BTF to compile against when the caller gave none: the
// kernel matrix (tests/vm) compiles inside guests against the host's BTF, so
// that they reuse its object cache and load CO-RE objects built on another kernel.
std::string default_btf_path(const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  const char* env = std::getenv("EBPFRUN_BTF");
  return env && *env ? env : types::kKernelBtfPath;
}

using Clock = std::chrono::steady_clock;

constexpr const char* kVirtualRoot = "/ebpfrun/";
constexpr const char* kVirtualIncludeDir = "/ebpfrun/include";
// vmlinux.h and the PCH reach clang only through its in-memory file system,
// from bytes that were verified first (see internal/cache_artifacts.h).
constexpr const char* kVirtualBtfDir = "/ebpfrun/btf";
constexpr const char* kVirtualPch = "/ebpfrun/pch/prelude.pch";
constexpr const char* kPreludeName = "ebpfrun_prelude.h";

// The headers nearly every CO-RE program includes; they go into the PCH.
constexpr const char* kPrelude =
    "#include \"vmlinux.h\"\n"
    "#include <bpf/bpf_helpers.h>\n"
    "#include <bpf/bpf_tracing.h>\n"
    "#include <bpf/bpf_core_read.h>\n"
    "#include <bpf/bpf_endian.h>\n";

// Macros every compile gets; __TARGET_ARCH_x86 selects pt_regs accessors in bpf_tracing.h.
const std::vector<std::string> kBaseDefines = {"__TARGET_ARCH_x86"};

std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd)) return "/" + path;
  return std::string(cwd) + "/" + (path.empty() ? "inline.bpf.c" : path);
}

std::string embedded_bundle_hash() {
  KeyHasher hasher;
  for (const auto& h : embedded_headers()) hasher.add(h.name, h.contents);
  hasher.add("prelude", kPrelude);
  return hasher.hex();
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += i + '\x1f';
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// vmlinux.h for this BTF: from the cache when its checksum holds, else
// generated (and stored when a cache is in use and writable).
Result<std::string> vmlinux_header(const ObjectCache* cache, const std::string& btf_dir, const std::string& btf_path,
                                   CompileStats& stats) {
  const std::string header = btf_dir + "/vmlinux.h";
  if (cache) {
    if (auto stored = files::read(header)) {
      std::string text;
      if (unseal_header(*stored, text)) return text;
      log::debug("{} is damaged; generating it again", header);
    }
  }
  auto text = types::generate_vmlinux_header(btf_path);
  if (!text) return text;
  stats.vmlinux_generated = true;
  log::debug("generated vmlinux.h from {}", btf_path);
  if (cache) {
    Status written = files::make_dirs(btf_dir, 0700);
    if (written) written = files::write_atomic(header, seal_header(*text), 0600);
    if (!written) warn_cache_unusable(fmt::format("cannot write to the cache: {}", written.error()));
  }
  return text;
}

// The cached PCH for `path`, verified; empty when missing or damaged.
std::string cached_pch(const std::string& path) {
  auto stored = files::read(path);
  if (!stored) return {};
  std::string pch;
  if (unwrap_pch(*stored, pch)) return pch;
  log::debug("precompiled header {} is damaged; building it again", path);
  return {};
}

// A vmlinux.h beside the source or in an -I directory wins over the generated
// one, as it would in clang's include order; such a source compiles without
// the PCH (which holds the generated vmlinux.h).
bool has_own_vmlinux_header(const std::string& main_path, const std::vector<std::string>& include_dirs) {
  if (files::exists(main_path.substr(0, main_path.rfind('/') + 1) + "vmlinux.h")) return true;
  for (const auto& dir : include_dirs)
    if (files::exists(dir + "/vmlinux.h")) return true;
  return false;
}

}  // namespace

bool includes_vmlinux_header(std::string_view source) {
  static const std::regex pattern(R"(#\s*include\s*[<"]vmlinux\.h[>"])");
  return std::regex_search(source.begin(), source.end(), pattern);
}

std::string CompileOutput::error_message() const {
  if (!failure.empty()) return failure;
  std::string text = render(diagnostics);
  return text.empty() ? "compilation failed without a diagnostic" : text;
}

Error CompileOutput::error() const {
  if (!failure.empty()) return make_error(failure_kind, failure, failure_errno);
  return make_error(ErrorKind::compile, error_message());
}

CompileOutput compile(std::string_view source, const std::string& path, const CompileOptions& options) {
  const auto start = Clock::now();
  CompileOutput out;
  auto& stats = out.stats;
  const std::string main_path = absolute(path);
  const std::string btf_path = default_btf_path(options.btf_path);

  // The kernel BTF's identity is remembered for this boot where the loader
  // remembers it (not with --no-cache, which reads and writes nothing there).
  const std::string cache_dir = options.cache_dir.empty() ? ObjectCache::default_dir() : options.cache_dir;
  auto btf = types::identify_btf(btf_path, options.use_cache ? ObjectCache::core_btf_dir(cache_dir) : std::string());
  if (!btf) {
    out.failure = btf.error();
    out.failure_kind = btf.error_kind();
    out.failure_errno = btf.error_info().err_no;
    return out;
  }
  // --no-cache bypasses every cached artefact; a cache that cannot be used
  // degrades to the same in-memory compile with one warning.
  std::optional<ObjectCache> cache;
  if (options.use_cache) {
    auto opened = ObjectCache::open(cache_dir);
    if (opened)
      cache.emplace(std::move(opened).value());
    else
      warn_cache_unusable(opened.error());
  }

  std::vector<std::string> include_dirs;
  for (const auto& dir : options.include_dirs) include_dirs.push_back(absolute(dir));
  const bool use_pch = cache && includes_vmlinux_header(source) && !has_own_vmlinux_header(main_path, include_dirs);

  KeyHasher key;
  key.add("source", source)
      .add("path", main_path)
      .add("includes", join(include_dirs))
      .add("defines", join(options.defines))
      .add("base-defines", join(kBaseDefines))
      .add("pch", use_pch ? 1 : 0)
      .add("embedded", embedded_bundle_hash())
      .add("clang", EBPFRUN_CLANG_VERSION)
      .add("backend", backend_fingerprint())
      .add("btf", btf->hash);
  stats.cache_key = key.hex();

  if (cache) {
    auto found = cache->find(stats.cache_key);
    if (found.state == ObjectCache::State::hit) {
      out.object = std::move(found.object);
      stats.cache_hit = true;
      stats.total_ms = ms_since(start);
      return out;
    }
    if (found.state != ObjectCache::State::miss) {
      stats.cache_note = fmt::format("cache entry {} was {}: {}; rebuilding", stats.cache_key,
                                     found.state == ObjectCache::State::stale ? "stale" : "corrupt", found.detail);
      log::debug("{}", stats.cache_note);
    }
    cache->remove_stale_temporaries();
  }

  const std::string btf_dir = cache ? cache->btf_dir(btf->hash) : std::string();
  const std::string virtual_btf_dir = fmt::format("{}/{}", kVirtualBtfDir, to_hex(btf->hash));
  auto vmlinux = vmlinux_header(cache ? &*cache : nullptr, btf_dir, btf_path, stats);
  if (!vmlinux) {
    out.failure = vmlinux.error();
    out.failure_kind = vmlinux.error_kind();
    out.failure_errno = vmlinux.error_info().err_no;
    return out;
  }

  stats.backend_loaded = true;

  BackendRequest request;
  request.main_path = main_path;
  request.main_source = std::string(source);
  for (const auto& h : embedded_headers())
    request.virtual_files.push_back({fmt::format("{}/{}", kVirtualIncludeDir, h.name), std::string(h.contents)});
  request.prelude_path = fmt::format("{}/{}", kVirtualIncludeDir, kPreludeName);
  request.virtual_files.push_back({request.prelude_path, kPrelude});
  request.virtual_files.push_back({virtual_btf_dir + "/vmlinux.h", std::move(*vmlinux)});
  request.include_dirs = include_dirs;
  request.system_include_dirs = {kVirtualIncludeDir, virtual_btf_dir};
  request.after_include_dirs = {EBPFRUN_MULTIARCH_INCLUDE_DIR};
  request.defines = options.defines;
  request.base_defines = kBaseDefines;
  request.resource_dir = EBPFRUN_CLANG_RESOURCE_DIR;
  std::string pch_file;
  if (use_pch) {
    pch_file = fmt::format("{}/prelude-{}.pch", btf_dir,
                           KeyHasher()
                               .add("clang", EBPFRUN_CLANG_VERSION)
                               .add("prelude", kPrelude)
                               .add("backend", backend_fingerprint())
                               .add("defines", join(kBaseDefines))
                               .hex());
    request.pch_path = kVirtualPch;
    request.pch_bytes = cached_pch(pch_file);
    request.return_pch = request.pch_bytes.empty();
  }

  BackendResult result;
  compile_in_child(request, result);
  if (!result.ok && use_pch && !result.pch_built && result.pch_unreadable) {
    // A PCH goes stale when a header it was built from changes (a libbpf
    // upgrade); build it again once.
    log::debug("precompiled header {} is unusable; rebuilding it", pch_file);
    request.pch_bytes.clear();
    request.return_pch = true;
    result = BackendResult{};
    compile_in_child(request, result);
  }
  if (!result.pch_bytes.empty()) {
    Status written = files::write_atomic(pch_file, wrap_pch(result.pch_bytes), 0600);
    if (!written) warn_cache_unusable(fmt::format("cannot write to the cache: {}", written.error()));
  }
  stats.pch_built = result.pch_built;
  stats.pch_used = result.pch_used;
  stats.pch_build_ms = result.pch_build_ms;
  stats.compile_ms = result.compile_ms;
  out.diagnostics = std::move(result.diagnostics);
  out.failure = std::move(result.failure);
  if (!result.ok) {
    stats.total_ms = ms_since(start);
    return out;
  }
  out.object = std::move(result.object);

  if (cache) {
    // Files covered by the key itself (the source, built-in headers, vmlinux.h,
    // the PCH and clang's own headers) are not re-validated on lookup.
    std::vector<std::string> dependencies;
    for (const auto& dep : result.dependencies) {
      if (dep == main_path || starts_with(dep, kVirtualRoot) || starts_with(dep, EBPFRUN_CLANG_RESOURCE_DIR)) continue;
      dependencies.push_back(dep);
    }
    if (auto stored = cache->store(stats.cache_key, out.object, dependencies); !stored)
      warn_cache_unusable(fmt::format("cannot write to the cache: {}", stored.error()));
  }
  stats.total_ms = ms_since(start);
  return out;
}

CompileOutput compile_file(const std::string& path, const CompileOptions& options) {
  auto source = files::read(path);
  if (!source) {
    CompileOutput out;
    out.failure = source.error();
    out.failure_kind = source.error_kind();
    out.failure_errno = source.error_info().err_no;
    return out;
  }
  return compile(*source, path, options);
}

}  // namespace ebpfrun::compiler
