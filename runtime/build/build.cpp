#include "build/build.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/files.h"
#include "common/log.h"

namespace ebpfrun::build {
namespace {

// A failure before the compiler ran, keeping the error's kind and errno.
compiler::CompileOutput failed(const Error& error) {
  compiler::CompileOutput out;
  out.failure = error.message;
  out.failure_kind = error.kind;
  out.failure_errno = error.err_no;
  return out;
}

bool is_binary_byte(unsigned char c) {
  // Tab, newline, vertical tab, form feed, carriage return and escape occur in
  // text; the other control characters do not.
  return c < 0x20 && c != '\t' && c != '\n' && c != '\v' && c != '\f' && c != '\r' && c != 0x1b;
}

}  // namespace

std::string object_name(const BuildRequest& request) {
  if (!request.file.empty()) return request.file;
  return request.name.empty() ? "inline" : request.name;
}

Status check_text(std::string_view source, const std::string& name) {
  auto it =
      std::find_if(source.begin(), source.end(), [](char c) { return is_binary_byte(static_cast<unsigned char>(c)); });
  if (it == source.end()) return ok_status();
  return make_error(ErrorKind::invalid_argument,
                    fmt::format("{} is not BPF C source: it contains binary data (byte 0x{:02x} at offset {})", name,
                                static_cast<unsigned char>(*it), it - source.begin()));
}

compiler::CompileOutput compile(const BuildRequest& request) {
  std::string source;
  std::string path;
  if (!request.file.empty()) {
    auto read = files::read(request.file);
    if (!read) return failed(read.error_info());
    source = std::move(*read);
    path = request.file;
  } else {
    source = request.text;
    path = request.name.empty() ? "inline.bpf.c" : request.name;
  }
  const std::string label = !request.file.empty() ? request.file : (request.name.empty() ? "inline C" : request.name);
  if (auto text = check_text(source, label); !text) return failed(text.error_info());
  auto filtered = tmpl::apply_filter(source, request.filter, label, request.filter_form);
  if (!filtered) return failed(filtered.error_info());

  compiler::CompileOutput out;
  // The filter is checked above in either case (too many values, no
  // placeholder), so a prebuilt object refuses what a compile would.
  if (auto prebuilt = find_prebuilt(request, source); !prebuilt.object.empty()) {
    log::debug("{}: prebuilt object {} (nothing compiled)", path, prebuilt.path);
    out.object = std::move(prebuilt.object);
    out.stats.prebuilt = true;
  } else {
    source = std::move(*filtered);
    if (request.file.empty() && !request.name.empty() && request.first_line > 1)
      source.insert(0, std::string(static_cast<size_t>(request.first_line - 1), '\n'));
    out = compiler::compile(source, path, request.options);
  }
  if (out.ok()) {
    const auto& s = out.stats;
    if (!s.prebuilt)
      log::debug(
          "compiled {} in {:.1f} ms ({}{}{})", path, s.total_ms,
          s.cache_hit ? "object cache hit" : (request.options.use_cache ? "compiled" : "compiled, cache disabled"),
          s.pch_built ? ", built precompiled header" : "",
          s.pch_used && !s.cache_hit ? ", used precompiled header" : "");
    if (!s.cache_note.empty()) log::debug("{}", s.cache_note);
    // The compiled C holds no filter values (so that the cache serves every
    // value alike): they go into this copy of the object only.
    const auto form = s.prebuilt ? tmpl::FilterForm::full : request.filter_form;
    for (const auto& global : tmpl::filter_globals(request.filter, form))
      if (auto set = set_elf_global(out.object, global.name, global.bytes); !set) {
        auto failure = failed(set.error_info());
        failure.stats = out.stats;
        return failure;
      }
  }
  return out;
}

Result<loader::Object> load(std::string_view elf, const std::string& name, const loader::OpenOptions& options,
                            const loader::LoadOptions& load_options, const std::vector<loader::NamedGlobal>& globals) {
  return load(std::string(elf), name, options, load_options, globals);
}

Result<loader::Object> load(std::string&& elf, const std::string& name, const loader::OpenOptions& options,
                            const loader::LoadOptions& load_options, const std::vector<loader::NamedGlobal>& globals) {
  auto object = loader::Object::open_owned(std::move(elf), name, options);
  if (!object) return object;
  if (auto set = loader::set_globals(*object, globals); !set) return std::move(set).take_error();
  if (auto loaded = object->load(load_options); !loaded) return std::move(loaded).take_error();
  return object;
}

void merge_filter(tmpl::FilterSpec& into, const tmpl::FilterSpec& from) {
  auto add = [](auto& a, const auto& b) {
    for (const auto& v : b)
      if (std::find(a.begin(), a.end(), v) == a.end()) a.push_back(v);
  };
  add(into.pids, from.pids);
  add(into.tids, from.tids);
  add(into.comms, from.comms);
  add(into.comm_prefixes, from.comm_prefixes);
  add(into.uids, from.uids);
  add(into.cgroup_ids, from.cgroup_ids);
  add(into.exclude_pids, from.exclude_pids);
}

Result<tmpl::FilterSpec> parse_filter_flags(const std::vector<std::string>& flags) {
  tmpl::FilterSpec spec;
  for (const auto& f : flags) {
    auto eq = f.find('=');
    if (eq == std::string::npos) return make_error(fmt::format("--filter takes FIELD=VALUE, got '{}'", f));
    if (auto added = tmpl::add_filter_value(spec, f.substr(0, eq), f.substr(eq + 1)); !added)
      return std::move(added).take_error();
  }
  return spec;
}

}  // namespace ebpfrun::build
