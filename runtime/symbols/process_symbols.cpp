#include "symbols/process_symbols.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "common/log.h"

namespace ebpfrun::symbols {

namespace {

// libdwfl's find_elf callback receives the module but not the session, and
// so not the pid; the session's pid is passed through this thread-local,
// set around every call into libdwfl that may open files.
thread_local pid_t current_pid = 0;

struct PidScope {
  explicit PidScope(pid_t pid) : saved(current_pid) { current_pid = pid; }
  ~PidScope() { current_pid = saved; }
  pid_t saved;
};

// Opens a mapped file through /proc/PID/root: the path in /proc/PID/maps is
// the one the process sees, which in another mount namespace is not the
// host's file. Special mappings ([vdso]) and deleted files go to libdwfl's own
// callback, which reads them from the process's memory.
int find_elf_in_root(Dwfl_Module* mod, void** userdata, const char* module_name, Dwarf_Addr base, char** file_name,
                     Elf** elfp) {
  if (module_name[0] == '/' && current_pid > 0) {
    std::string path = "/proc/" + std::to_string(current_pid) + "/root" + module_name;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      *file_name = strdup(path.c_str());
      return fd;
    }
  }
  return dwfl_linux_proc_find_elf(mod, userdata, module_name, base, file_name, elfp);
}

// Separate debug files (by build-id under /usr/lib/debug, or .gnu_debuglink)
// and MiniDebugInfo come from libdwfl's standard search.
char* debuginfo_path = nullptr;
const Dwfl_Callbacks kCallbacks = {
    .find_elf = find_elf_in_root,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

int open_module_elf(Dwfl_Module* mod, void**, const char*, Dwarf_Addr, void*) {
  Dwarf_Addr bias = 0;
  dwfl_module_getelf(mod, &bias);
  return DWARF_CB_OK;
}

// The name of a subprogram or inlined subroutine DIE, following
// DW_AT_abstract_origin to where an inlined function's name is.
const char* die_function_name(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  if (const char* linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr))) return linkage;
  return dwarf_diename(die);
}

}  // namespace

Result<ProcessSymbols> ProcessSymbols::open(pid_t pid) {
  std::string maps = "/proc/" + std::to_string(pid) + "/maps";
  if (::access(maps.c_str(), R_OK) != 0) {
    int err = errno;
    return make_errno_error(err, "cannot read the mappings of pid " + std::to_string(pid) + ": " + std::strerror(err));
  }
  Dwfl* dwfl = dwfl_begin(&kCallbacks);
  if (!dwfl) return make_error(ErrorKind::resource, std::string("dwfl_begin: ") + dwfl_errmsg(-1));
  PidScope scope(pid);
  dwfl_report_begin(dwfl);
  int rc = dwfl_linux_proc_report(dwfl, pid);
  dwfl_report_end(dwfl, nullptr, nullptr);
  if (rc != 0) {
    dwfl_end(dwfl);
    int err = rc > 0 ? rc : ESRCH;
    return make_errno_error(err, "reading the mappings of pid " + std::to_string(pid) + ": " + std::strerror(err));
  }
  // Open every file now, while the process exists, so lookups after it exits work.
  dwfl_getmodules(dwfl, open_module_elf, nullptr, 0);
  return ProcessSymbols(pid, dwfl);
}

ProcessSymbols::ProcessSymbols(ProcessSymbols&& other) noexcept
    : pid_(other.pid_), dwfl_(std::exchange(other.dwfl_, nullptr)) {}

ProcessSymbols& ProcessSymbols::operator=(ProcessSymbols&& other) noexcept {
  if (this != &other) {
    if (dwfl_) dwfl_end(dwfl_);
    pid_ = other.pid_;
    dwfl_ = std::exchange(other.dwfl_, nullptr);
  }
  return *this;
}

ProcessSymbols::~ProcessSymbols() {
  if (dwfl_) dwfl_end(dwfl_);
}

std::vector<Frame> ProcessSymbols::lookup(uint64_t addr) const {
  PidScope scope(pid_);
  Frame outer;
  outer.addr = addr;
  outer.symbol = kUnknown;
  Dwfl_Module* mod = dwfl_addrmodule(dwfl_, addr);
  if (!mod) return {outer};
  const char* module_name = dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  outer.module = module_name ? module_name : "";
  GElf_Off offset = 0;
  GElf_Sym sym;
  if (const char* name = dwfl_module_addrinfo(mod, addr, &offset, &sym, nullptr, nullptr, nullptr)) {
    outer.symbol = name;
    outer.offset = offset;
  }
  if (Dwfl_Line* line = dwfl_module_getsrc(mod, addr)) {
    int lineno = 0;
    if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) outer.file = file;
    outer.line = lineno;
  }

  // Inlined frames: the DWARF scopes containing the address, innermost first.
  // Each inlined subroutine is a frame at the inner frame's source line; its
  // call site (DW_AT_call_file/line) is the source line of the frame outside it.
  std::vector<Frame> frames;
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(mod, addr, &bias);
  Dwarf_Die* scopes = nullptr;
  int count = cu ? dwarf_getscopes(cu, addr - bias, &scopes) : 0;
  std::string file = outer.file;
  int line = outer.line;
  for (int i = 0; i < count; ++i) {
    if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine) continue;
    Frame inlined;
    inlined.addr = addr;
    const char* name = die_function_name(&scopes[i]);
    inlined.symbol = name ? name : kUnknown;
    inlined.module = outer.module;
    inlined.file = file;
    inlined.line = line;
    inlined.inlined = true;
    frames.push_back(std::move(inlined));
    Dwarf_Attribute attr;
    Dwarf_Word value = 0;
    if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &attr), &value) == 0) line = static_cast<int>(value);
    if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &attr), &value) == 0) {
      Dwarf_Files* files = nullptr;
      if (dwarf_getsrcfiles(cu, &files, nullptr) == 0)
        if (const char* call_file = dwarf_filesrc(files, value, nullptr, nullptr)) file = call_file;
    }
  }
  std::free(scopes);
  outer.file = file;
  outer.line = line;
  frames.push_back(std::move(outer));
  return frames;
}

}  // namespace ebpfrun::symbols
