#include "attach/kernel_functions.h"

#include <bpf/btf.h>
#include <fnmatch.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "attach/kernel_names.h"
#include "common/log.h"

namespace ebpfrun::attach {
namespace {

void sort_unique(std::vector<std::string>& names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
}

bool matches(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

// available_filter_functions: "name" or "name [module]" per line.
bool read_filter_functions(const std::string& pattern, std::vector<std::string>& out) {
  auto dir = tracefs();
  if (!dir) return false;
  std::ifstream in(*dir + "/available_filter_functions");
  if (!in) return false;
  std::string line;
  bool any = false;
  while (std::getline(in, line)) {
    any = true;
    std::string name = line.substr(0, line.find_first_of(" \t"));
    if (!name.empty() && matches(pattern, name)) out.push_back(std::move(name));
  }
  return any;
}

// /proc/kallsyms: "address type name [module]"; text symbols are t or T.
Status read_kallsyms(const std::string& pattern, std::vector<std::string>& out) {
  std::ifstream in("/proc/kallsyms");
  if (!in) return make_errno_error(errno, fmt::format("cannot read /proc/kallsyms: {}", std::strerror(errno)));
  std::string address, type, name;
  std::string rest;
  while (in >> address >> type >> name) {
    std::getline(in, rest);
    if ((type == "t" || type == "T") && matches(pattern, name)) out.push_back(name);
  }
  return ok_status();
}

}  // namespace

Result<std::vector<std::string>> kprobe_functions(const std::string& pattern) {
  std::vector<std::string> names;
  if (!read_filter_functions(pattern, names)) {
    log::debug("available_filter_functions cannot be read; listing the text symbols of /proc/kallsyms");
    if (auto read = read_kallsyms(pattern, names); !read) return std::move(read).take_error();
  }
  sort_unique(names);
  return names;
}

Result<std::vector<std::string>> btf_functions(const std::string& pattern) {
  struct btf* btf = btf__load_vmlinux_btf();
  if (!btf) {
    int err = errno;
    return make_errno_error(err, fmt::format("cannot read the kernel's BTF (/sys/kernel/btf/vmlinux): {}; fentry and "
                                             "fexit need a kernel built with CONFIG_DEBUG_INFO_BTF",
                                             std::strerror(err)));
  }
  std::vector<std::string> names;
  const unsigned count = btf__type_cnt(btf);
  for (unsigned id = 1; id < count; ++id) {
    const struct btf_type* type = btf__type_by_id(btf, id);
    if (!btf_is_func(type)) continue;
    std::string name = btf__name_by_offset(btf, type->name_off);
    if (matches(pattern, name)) names.push_back(std::move(name));
  }
  btf__free(btf);
  sort_unique(names);
  return names;
}

}  // namespace ebpfrun::attach
