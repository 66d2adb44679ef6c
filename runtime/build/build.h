// runtime/build — the one pipeline from BPF C to a loaded object, shared by
// `ebpfrun compile`/`check` and the Lua binding (ebpf.compile):
//
//   read the file (or take inline text) → refuse binary data → fill /*FILTER*/
//   → pad inline C to its line in the Lua file → compile → open and load.
//
// Type anchoring (every struct/union/enum of the program's own files in BTF)
// happens inside the compiler, from clang's AST, so every caller gets it.
// Keeping the steps in one place is what makes an object from `ebpfrun
// compile` the same as one compiled from a script.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "compiler/compiler.h"
#include "loader/object.h"
#include "template/filter.h"

namespace ebpfrun::build {

struct BuildRequest {
  std::string file;  // a BPF C file to read, or
  std::string text;  // inline BPF C (exactly one of the two)
  // Inline C: the file it was written in (a Lua script) and the line it starts
  // on. The C is compiled under that name, padded so that its line numbers are
  // the script's: diagnostics, BTF line info and the verifier's quoted source
  // then all point at the script (a #line directive would renumber lines, but
  // the verifier would quote the wrong text).
  std::string name;
  long long first_line = 0;
  tmpl::FilterSpec filter;
  compiler::CompileOptions options;
};

// How the object is named in messages: the file, the script, or "inline".
std::string object_name(const BuildRequest& request);

// Reads, checks, fills filters, pads and compiles. Failures before the
// compiler (unreadable or binary file, bad filter) come back in
// CompileOutput::failure like a compile failure.
compiler::CompileOutput compile(const BuildRequest& request);

// Opens the ELF and loads it into the kernel (with programs switched off or
// optional as `load_options` says).
Result<loader::Object> load(std::string_view elf, const std::string& name, const loader::OpenOptions& options = {},
                            const loader::LoadOptions& load_options = {});

// Adds every value of `from` that `into` lacks (a script's filter plus the
// command line's -p / -c filter).
void merge_filter(tmpl::FilterSpec& into, const tmpl::FilterSpec& from);

// FIELD=VALUE strings (ebpfrun -F) into a spec; errors are usage errors.
Result<tmpl::FilterSpec> parse_filter_flags(const std::vector<std::string>& flags);

// An error when `source` holds bytes no C source contains (NUL and other
// control characters): a binary file given by mistake gets one clear message
// instead of clang echoing its bytes.
Status check_text(std::string_view source, const std::string& name);

}  // namespace ebpfrun::build
