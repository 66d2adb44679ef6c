// Type anchoring: every struct, union and enum the program itself defines
// reaches the object's BTF, even when the C code uses it only through a
// pointer (a ring-buffer event) or not at all.
//
// Clang's BTF holds only the types reachable from globals, maps and function
// signatures, so `obj:ringbuf("events", "struct event")` could not type an
// event that is only ever reserved and written through a pointer. The
// consumer below watches clang's AST: each tag defined at file scope in a
// non-system file (the main file and headers found beside it or through -I,
// never vmlinux.h, libbpf's or clang's headers) gets a static pointer global
// in the `.ebpfrun.types` section, which libbpf ignores when loading. The
// globals are added to the AST after parsing, so no source line moves and the
// precompiled header is untouched.
#pragma once

#include <memory>

#include <clang/AST/ASTConsumer.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Frontend/CompilerInstance.h>

namespace ebpfrun::compiler {

inline constexpr const char* kTypeAnchorSection = ".ebpfrun.types";

// `clang -c` (EmitObjAction) with the type anchors added before code generation.
class AnchoringEmitObjAction : public clang::EmitObjAction {
 protected:
  std::unique_ptr<clang::ASTConsumer> CreateASTConsumer(clang::CompilerInstance& instance,
                                                        llvm::StringRef file) override;
};

}  // namespace ebpfrun::compiler
