// runtime/build — the one pipeline from BPF C to a loaded object, shared by
// `ebpfrun compile`/`check` and the Lua binding (ebpf.compile):
//
//   read the file (or take inline text) → refuse binary data → fill /*FILTER*/
//   → pad inline C to its line in the Lua file → compile (or take the
//   prebuilt object of a shipped source) → write the filter's values into the
//   object's .rodata → open and load.
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
#include "loader/globals.h"
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
  // The full form makes an object that serves every filter (a prebuilt one).
  tmpl::FilterForm filter_form = tmpl::FilterForm::fitted;
  // false: always compile (how the prebuilt objects themselves are made).
  bool use_prebuilt = true;
  compiler::CompileOptions options;
};

// How the object is named in messages: the file, the script, or "inline".
std::string object_name(const BuildRequest& request);

// Reads, checks, fills filters, pads and compiles. Failures before the
// compiler (unreadable or binary file, bad filter) come back in
// CompileOutput::failure like a compile failure.
compiler::CompileOutput compile(const BuildRequest& request);

// Prebuilt objects (the shipped bpf/*.bpf.c compiled when ebpfrun is built,
// in the full filter form). compile() takes one instead of compiling when the
// request is a file with a prebuilt object for its text and defines, and no
// --no-cache, --btf or -I says otherwise (EBPFRUN_BTF only names the types of
// the compiles that do happen).
//
// The name the object of `file` (whose text is `source`) compiled with
// `defines` has: STEM-KEY.o, KEY a hash of the text, the headers beside it
// that it includes, and the defines.
std::string prebuilt_name(const std::string& file, std::string_view source, const std::vector<std::string>& defines);

// Where prebuilt objects are looked for: $EBPFRUN_PREBUILT_DIR alone when it
// is set, else prebuilt/ beside the executable (the build tree) and
// ../lib/ebpfrun/prebuilt (an installed tree).
std::vector<std::string> prebuilt_dirs();

// The prebuilt object for a request whose file holds `source`; an empty
// object when there is none or the request may not use one.
struct Prebuilt {
  std::string path;
  std::string object;
};
Prebuilt find_prebuilt(const BuildRequest& request, std::string_view source);

// Writes `bytes` over the initial value of the global variable `name` in a
// BPF ELF (where its symbol lies in its data section). An error when there is
// no such variable or its size differs.
Status set_elf_global(std::string& elf, std::string_view name, std::string_view bytes);

// Opens the ELF, sets `globals` (ebpf.compile's globals=), and loads it into
// the kernel (with programs switched off or optional as `load_options` says).
Result<loader::Object> load(std::string_view elf, const std::string& name, const loader::OpenOptions& options = {},
                            const loader::LoadOptions& load_options = {},
                            const std::vector<loader::NamedGlobal>& globals = {});
// The same with the ELF handed over (loader::Object::open_owned).
Result<loader::Object> load(std::string&& elf, const std::string& name, const loader::OpenOptions& options = {},
                            const loader::LoadOptions& load_options = {},
                            const std::vector<loader::NamedGlobal>& globals = {});

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
