// The clang backend: BPF C → BPF ELF with libclang-cpp, entirely in process.
// Built as its own shared library (libebpfrun-clang.so) and dlopen'ed by the
// host only on an object-cache miss.
//
// The compile invocation comes from clang's own driver given the same flags as
// `clang -target bpf -O2 -g -c`, so the result matches what the clang-16
// command would produce. The precompiled header is built from that very
// invocation with only the frontend action and input swapped: a PCH is refused
// unless its language options match the compile exactly, and deriving both
// from one invocation is the only robust way to guarantee that.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/DiagnosticFrontend.h>
#include <clang/Basic/DiagnosticIDs.h>
#include <clang/Basic/DiagnosticOptions.h>
#include <clang/Basic/SourceManager.h>
#include <clang/Basic/Version.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Driver/Compilation.h>
#include <clang/Driver/Driver.h>
#include <clang/Driver/Job.h>
#include <clang/Driver/Tool.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/CompilerInvocation.h>
#include <clang/Frontend/FrontendActions.h>
#include <clang/Frontend/Utils.h>
#include <clang/Lex/PreprocessorOptions.h>
#include <llvm/ADT/SmallString.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/VirtualFileSystem.h>
#include <llvm/Support/raw_ostream.h>

#include "compiler/backend/type_anchors.h"
#include "compiler/internal/backend_api.h"

// clang's cc1 registers every target with its target info, MC layer, asm
// printer and asm parser (llvm::InitializeAll*); BPF is the only target this
// backend generates code for, so it registers exactly that target's parts. The
// asm parser is what inline `asm` in BPF C needs (the integrated assembler
// parses it); the disassembler is registered too, as cc1's tools would.
extern "C" {
void LLVMInitializeBPFTargetInfo();
void LLVMInitializeBPFTarget();
void LLVMInitializeBPFTargetMC();
void LLVMInitializeBPFAsmPrinter();
void LLVMInitializeBPFAsmParser();
void LLVMInitializeBPFDisassembler();
}

namespace ebpfrun::compiler {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// True for the diagnostics of a precompiled header clang cannot read: the AST
// reader's own (stale, damaged, not a PCH) and the frontend's "unable to load
// PCH file". Decided by diagnostic id, so the host never matches message text.
bool is_pch_read_failure(unsigned id) {
  return (id >= clang::diag::DIAG_START_SERIALIZATION && id < clang::diag::DIAG_START_LEX) ||
         id == clang::diag::err_fe_unable_to_load_pch;
}

// Records every clang diagnostic as a structured Diagnostic. Locations are
// "presumed" locations, so `#line` directives in the source are honoured: the
// Lua bindings use them to point diagnostics of inline C at the Lua file.
class DiagnosticCollector : public clang::DiagnosticConsumer {
 public:
  explicit DiagnosticCollector(std::vector<Diagnostic>& out, bool* pch_unreadable = nullptr)
      : out_(out), pch_unreadable_(pch_unreadable) {}

  void HandleDiagnostic(clang::DiagnosticsEngine::Level level, const clang::Diagnostic& info) override {
    clang::DiagnosticConsumer::HandleDiagnostic(level, info);
    if (pch_unreadable_ && level >= clang::DiagnosticsEngine::Error && is_pch_read_failure(info.getID()))
      *pch_unreadable_ = true;
    Diagnostic d;
    switch (level) {
      case clang::DiagnosticsEngine::Ignored:
        return;
      case clang::DiagnosticsEngine::Note:
      case clang::DiagnosticsEngine::Remark:
        d.severity = Severity::note;
        break;
      case clang::DiagnosticsEngine::Warning:
        d.severity = Severity::warning;
        break;
      case clang::DiagnosticsEngine::Error:
        d.severity = Severity::error;
        break;
      case clang::DiagnosticsEngine::Fatal:
        d.severity = Severity::fatal;
        break;
    }
    llvm::SmallString<256> text;
    info.FormatDiagnostic(text);
    d.message = std::string(text.str());
    if (info.hasSourceManager() && info.getLocation().isValid()) locate(info.getSourceManager(), info.getLocation(), d);
    out_.push_back(std::move(d));
  }

 private:
  static void locate(const clang::SourceManager& sm, clang::SourceLocation raw, Diagnostic& d) {
    clang::SourceLocation loc = sm.getFileLoc(raw);
    clang::PresumedLoc presumed = sm.getPresumedLoc(loc);
    if (presumed.isInvalid()) return;
    d.file = presumed.getFilename();
    d.line = presumed.getLine();
    d.column = presumed.getColumn();
    bool invalid = false;
    llvm::StringRef buffer = sm.getBufferData(sm.getFileID(loc), &invalid);
    if (invalid) return;
    size_t offset = sm.getFileOffset(loc);
    if (offset > buffer.size()) return;
    size_t begin = buffer.rfind('\n', offset == 0 ? 0 : offset - 1);
    begin = (begin == llvm::StringRef::npos || offset == 0) ? 0 : begin + 1;
    if (offset > 0 && buffer[offset - 1] == '\n') begin = offset;
    size_t end = buffer.find('\n', offset);
    d.source_line = std::string(buffer.slice(begin, end == llvm::StringRef::npos ? buffer.size() : end));
  }

  std::vector<Diagnostic>& out_;
  bool* pch_unreadable_;
};

// Collects every file the compile read, system headers and PCH inputs included,
// so that the host can tell on a later run whether a cached object is stale.
class AllDependencies : public clang::DependencyCollector {
 public:
  bool needSystemDependencies() override { return true; }
};

llvm::IntrusiveRefCntPtr<llvm::vfs::FileSystem> make_file_system(
    const BackendRequest& request, llvm::IntrusiveRefCntPtr<llvm::vfs::InMemoryFileSystem>& memory) {
  memory = llvm::makeIntrusiveRefCnt<llvm::vfs::InMemoryFileSystem>();
  // A fixed modification time keeps precompiled-header validation stable across
  // processes for headers that live only in memory.
  for (const auto& file : request.virtual_files)
    memory->addFile(file.path, 0, llvm::MemoryBuffer::getMemBufferCopy(file.contents, file.path));
  memory->addFile(request.main_path, 0, llvm::MemoryBuffer::getMemBufferCopy(request.main_source, request.main_path));
  auto overlay = llvm::makeIntrusiveRefCnt<llvm::vfs::OverlayFileSystem>(llvm::vfs::getRealFileSystem());
  overlay->pushOverlay(memory);
  return overlay;
}

// Builds the cc1 invocation with clang's driver, exactly as `clang -target bpf -O2 -g -c` would.
std::shared_ptr<clang::CompilerInvocation> make_invocation(const BackendRequest& request, bool with_user_defines,
                                                           llvm::IntrusiveRefCntPtr<llvm::vfs::FileSystem> fs,
                                                           clang::DiagnosticsEngine& diags) {
  // The BPF backend takes the source text of BTF line info (which the verifier
  // quotes) from the file on disk. Inline C from a Lua script is compiled
  // under the script's own name with the same line numbers, so that text is
  // right; -gembed-source would also work for purely in-memory sources but
  // embeds all of vmlinux.h (3 MB per object).
  std::vector<std::string> args = {
      "clang", "-target", "bpf", "-O2", "-g", "-c", "-fno-color-diagnostics", "-resource-dir", request.resource_dir};
  for (const auto& d : request.base_defines) args.push_back("-D" + d);
  if (with_user_defines)
    for (const auto& d : request.defines) args.push_back("-D" + d);
  for (const auto& dir : request.include_dirs) args.push_back("-I" + dir);
  for (const auto& dir : request.system_include_dirs) args.insert(args.end(), {"-isystem", dir});
  for (const auto& dir : request.after_include_dirs) args.insert(args.end(), {"-idirafter", dir});
  // -x c: the source may be named after a Lua file (inline C), whatever its extension.
  args.insert(args.end(), {"-x", "c", request.main_path, "-o", request.main_path + ".o"});

  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  clang::driver::Driver driver(request.resource_dir + "/../../../bin/clang", "bpf", diags, "ebpfrun", fs);
  driver.ResourceDir = request.resource_dir;
  driver.setCheckInputsExist(false);
  std::unique_ptr<clang::driver::Compilation> compilation(driver.BuildCompilation(argv));
  if (!compilation || diags.hasErrorOccurred()) return nullptr;
  for (const auto& job : compilation->getJobs()) {
    const auto* command = llvm::dyn_cast<clang::driver::Command>(&job);
    if (!command || llvm::StringRef(command->getCreator().getName()) != "clang") continue;
    auto invocation = std::make_shared<clang::CompilerInvocation>();
    const auto& cc1 = command->getArguments();
    if (!clang::CompilerInvocation::CreateFromArgs(*invocation, cc1, diags)) return nullptr;
    // The driver asks cc1 to skip freeing memory at exit; we live on in the
    // same process (the REPL compiles many times), so free it.
    invocation->getFrontendOpts().DisableFree = false;
    // No "N errors generated." on stderr: diagnostics go to the host as records.
    invocation->getDiagnosticOpts().ShowCarets = false;
    return invocation;
  }
  return nullptr;
}

// The action is created after, and so destroyed before, the CompilerInstance it
// runs in, the same order as in clang's cc1: the action's module and LLVM
// context refer to state the instance owns.
template <typename Action>
bool run_action(std::shared_ptr<clang::CompilerInvocation> invocation,
                llvm::IntrusiveRefCntPtr<llvm::vfs::FileSystem> fs, clang::DiagnosticConsumer& consumer,
                std::unique_ptr<llvm::raw_pwrite_stream> output,
                std::shared_ptr<clang::DependencyCollector> dependencies) {
  clang::CompilerInstance instance;
  Action action;
  instance.setInvocation(std::move(invocation));
  instance.createDiagnostics(&consumer, /*ShouldOwnClient=*/false);
  instance.createFileManager(fs);
  if (output) instance.setOutputStream(std::move(output));
  if (dependencies) instance.addDependencyCollector(std::move(dependencies));
  return instance.ExecuteAction(action) && !instance.getDiagnostics().hasErrorOccurred();
}

// Builds the PCH into an anonymous memory file (no file in the cache or in
// /tmp can be left behind when the compile is killed) and returns its bytes.
bool build_pch(const BackendRequest& request, const clang::CompilerInvocation& compile_invocation,
               llvm::IntrusiveRefCntPtr<llvm::vfs::FileSystem> fs, clang::DiagnosticConsumer& consumer,
               std::string& pch) {
  int fd = ::memfd_create("ebpfrun-pch", MFD_CLOEXEC);
  if (fd < 0) return false;
  auto invocation = std::make_shared<clang::CompilerInvocation>(compile_invocation);
  auto& frontend = invocation->getFrontendOpts();
  frontend.ProgramAction = clang::frontend::GeneratePCH;
  frontend.Inputs = {clang::FrontendInputFile(request.prelude_path, clang::InputKind(clang::Language::C).getHeader())};
  frontend.OutputFile = "/proc/self/fd/" + std::to_string(fd);
  invocation->getPreprocessorOpts().ImplicitPCHInclude.clear();
  bool ok = run_action<clang::GeneratePCHAction>(invocation, fs, consumer, nullptr, nullptr);
  if (ok) {
    pch.clear();
    char buffer[1 << 16];
    for (off_t offset = 0;;) {
      ssize_t n = ::pread(fd, buffer, sizeof buffer, offset);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pch.append(buffer, static_cast<size_t>(n));
      offset += n;
    }
    ok = !pch.empty();
  }
  ::close(fd);
  return ok;
}

// What cc1 does with -mllvm options before it runs an action.
void apply_llvm_options(const clang::CompilerInvocation& invocation) {
  const auto& options = invocation.getFrontendOpts().LLVMArgs;
  if (options.empty()) return;
  std::vector<const char*> argv = {"clang (LLVM option parsing)"};
  for (const auto& o : options) argv.push_back(o.c_str());
  llvm::cl::ParseCommandLineOptions(static_cast<int>(argv.size()), argv.data());
}

void compile(const BackendRequest& request, BackendResult& result) {
  static const bool targets_ready = [] {
    LLVMInitializeBPFTargetInfo();
    LLVMInitializeBPFTarget();
    LLVMInitializeBPFTargetMC();
    LLVMInitializeBPFAsmPrinter();
    LLVMInitializeBPFAsmParser();
    LLVMInitializeBPFDisassembler();
    return true;
  }();
  (void)targets_ready;

  DiagnosticCollector collector(result.diagnostics, &result.pch_unreadable);
  auto diag_options = llvm::makeIntrusiveRefCnt<clang::DiagnosticOptions>();
  clang::DiagnosticsEngine diags(llvm::makeIntrusiveRefCnt<clang::DiagnosticIDs>(), diag_options.get(), &collector,
                                 /*ShouldOwnClient=*/false);
  llvm::IntrusiveRefCntPtr<llvm::vfs::InMemoryFileSystem> memory;
  auto fs = make_file_system(request, memory);

  auto invocation = make_invocation(request, /*with_user_defines=*/true, fs, diags);
  if (!invocation) {
    if (result.diagnostics.empty()) result.failure = "clang could not build a compile invocation";
    return;
  }
  apply_llvm_options(*invocation);

  std::string built;  // a PCH built here; the in-memory file system refers to it until the compile ends
  if (!request.pch_path.empty()) {
    const std::string* pch = &request.pch_bytes;
    if (pch->empty()) {
      // The PCH must not carry the user's -D macros: it is shared by every compile.
      auto pch_invocation = make_invocation(request, /*with_user_defines=*/false, fs, diags);
      auto start = Clock::now();
      std::vector<Diagnostic> pch_diagnostics;
      DiagnosticCollector pch_collector(pch_diagnostics);
      if (!pch_invocation || !build_pch(request, *pch_invocation, fs, pch_collector, built)) {
        result.failure =
            "building the precompiled header of vmlinux.h and the libbpf headers failed:\n" + render(pch_diagnostics);
        return;
      }
      result.pch_built = true;
      result.pch_build_ms = ms_since(start);
      pch = &built;
    }
    memory->addFile(request.pch_path, 0, llvm::MemoryBuffer::getMemBuffer(*pch, request.pch_path, false));
    invocation->getPreprocessorOpts().ImplicitPCHInclude = request.pch_path;
    result.pch_used = true;
  }

  auto start = Clock::now();
  llvm::SmallVector<char, 0> object;
  auto dependencies = std::make_shared<AllDependencies>();
  bool ok = run_action<AnchoringEmitObjAction>(invocation, fs, collector,
                                               std::make_unique<llvm::raw_svector_ostream>(object), dependencies);
  result.compile_ms = ms_since(start);
  if (!ok) return;
  result.object.assign(object.begin(), object.end());
  for (const auto& dep : dependencies->getDependencies()) result.dependencies.push_back(dep);
  result.ok = !result.object.empty();
  if (!result.ok && result.failure.empty()) result.failure = "clang produced an empty object";
  if (result.pch_built && request.return_pch) result.pch_bytes = std::move(built);
}

}  // namespace
}  // namespace ebpfrun::compiler

extern "C" {

__attribute__((visibility("default"))) int ebpfrun_backend_abi_version() {
  return ebpfrun::compiler::kBackendAbiVersion;
}

__attribute__((visibility("default"))) const char* ebpfrun_backend_compiler_version() {
  static const std::string version = clang::getClangFullVersion();
  return version.c_str();
}

__attribute__((visibility("default"))) void ebpfrun_backend_compile(const ebpfrun::compiler::BackendRequest* request,
                                                                    ebpfrun::compiler::BackendResult* result) {
  // No exception may cross the dlopen boundary into the host.
  try {
    ebpfrun::compiler::compile(*request, *result);
  } catch (const std::exception& e) {
    result->ok = false;
    result->failure = std::string("internal compiler error: ") + e.what();
  } catch (...) {
    result->ok = false;
    result->failure = "internal compiler error";
  }
}
}
