// Prebuilt objects: the shipped BPF sources (bpf/*.bpf.c), compiled when
// ebpfrun itself is built, so that a shipped collector or tool starts without
// the clang backend even with an empty cache.
//
// An object is found by name, STEM-KEY.o, where KEY hashes what decides the
// compiled code: the source text, the text of the headers beside it that it
// includes in quotes (a quoted include is resolved there first), the defines
// and the full filter form's code. An edited source or header, or any other define, has
// no prebuilt object and is compiled as before. The objects are CO-RE: they
// were compiled against the build machine's kernel types, and libbpf
// relocates them to the running kernel when they are loaded.
#include <unistd.h>

#include <cstdlib>
#include <regex>

#include <fmt/format.h>

#include "build/build.h"
#include "common/files.h"
#include "common/hash.h"

namespace ebpfrun::build {
namespace {

// Changes when the way objects are compiled or named changes, so that stale
// prebuilt objects are never picked up by a newer binary.
constexpr std::string_view kPrebuiltFormat = "ebpfrun-prebuilt-1";

std::string directory_of(const std::string& file) {
  const size_t slash = file.rfind('/');
  return slash == std::string::npos ? "." : file.substr(0, slash);
}

// "dir/syscalls.bpf.c" -> "syscalls".
std::string stem_of(const std::string& file) {
  const size_t slash = file.rfind('/');
  std::string name = slash == std::string::npos ? file : file.substr(slash + 1);
  for (std::string_view suffix : {".bpf.c", ".c"})
    if (name.size() > suffix.size() && name.ends_with(suffix)) return name.substr(0, name.size() - suffix.size());
  return name;
}

}  // namespace

std::string prebuilt_name(const std::string& file, std::string_view source, const std::vector<std::string>& defines) {
  KeyHasher key;
  key.add("format", kPrebuiltFormat).add("source", source);
  // The full filter form's code: a binary whose filter code differs never
  // takes an object made with another's.
  key.add("filter", tmpl::render_filter({}, tmpl::FilterForm::full))
      .add("filter-definitions", tmpl::render_filter_definitions({}, tmpl::FilterForm::full));
  // Headers beside the source, in the order the source includes them (one
  // level deep: the shipped headers include only system headers and each
  // other, and all of them are hashed when any is included).
  static const std::regex include(R"re(#\s*include\s*"([^"/]+)")re");
  const std::string dir = directory_of(file);
  for (std::cregex_iterator it(source.data(), source.data() + source.size(), include), end; it != end; ++it) {
    const std::string header = (*it)[1].str();
    if (auto text = files::read(dir + "/" + header)) key.add(header, *text);
  }
  for (const auto& define : defines) key.add("define", define);
  return fmt::format("{}-{}.o", stem_of(file), key.hex().substr(0, 16));
}

std::vector<std::string> prebuilt_dirs() {
  if (const char* env = std::getenv("EBPFRUN_PREBUILT_DIR"); env && *env) return {env};
  const std::string dir = files::executable_dir();
  // PREFIX/bin/.. spelled as PREFIX, so that -v shows a plain path.
  const std::string parent = dir.substr(0, dir.rfind('/'));
  return {dir + "/prebuilt", parent + "/lib/ebpfrun/prebuilt"};
}

Prebuilt find_prebuilt(const BuildRequest& request, std::string_view source) {
  const auto& options = request.options;
  // --no-cache asks for a compile from source; --btf and -I directories
  // change what the source compiles to. EBPFRUN_BTF does not: it names the
  // types of the compiles that do happen (the kernel matrix's guests compile
  // against the host's BTF to share its cache), and a prebuilt object is
  // CO-RE, relocated against the running kernel at load, as a user on that
  // kernel runs it.
  if (!request.use_prebuilt || request.file.empty() || !options.use_cache || !options.btf_path.empty() ||
      !options.include_dirs.empty())
    return {};
  const std::string name = prebuilt_name(request.file, source, options.defines);
  for (const auto& dir : prebuilt_dirs()) {
    const std::string path = dir + "/" + name;
    auto object = files::read(path);
    if (object && object->starts_with("\x7f"
                                      "ELF"))
      return {path, std::move(*object)};
  }
  return {};
}

}  // namespace ebpfrun::build
