#include "compiler/internal/backend_wire.h"

#include <cstdint>
#include <cstring>

namespace ebpfrun::compiler {
namespace {

void put(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void put(std::string& out, double v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void put(std::string& out, std::string_view s) {
  put(out, static_cast<uint64_t>(s.size()));
  out.append(s);
}

struct Reader {
  std::string_view in;
  bool ok = true;

  template <typename T>
  T scalar() {
    T v{};
    if (in.size() < sizeof v) {
      ok = false;
      return v;
    }
    std::memcpy(&v, in.data(), sizeof v);
    in.remove_prefix(sizeof v);
    return v;
  }
  std::string string() {
    auto n = scalar<uint64_t>();
    if (!ok || in.size() < n) {
      ok = false;
      return {};
    }
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
};

}  // namespace

std::string encode_result(const BackendResult& r) {
  std::string out;
  put(out, static_cast<uint64_t>(r.ok));
  put(out, r.object);
  put(out, static_cast<uint64_t>(r.diagnostics.size()));
  for (const auto& d : r.diagnostics) {
    put(out, static_cast<uint64_t>(d.severity));
    put(out, d.message);
    put(out, d.file);
    put(out, static_cast<uint64_t>(d.line));
    put(out, static_cast<uint64_t>(d.column));
    put(out, d.source_line);
  }
  put(out, static_cast<uint64_t>(r.dependencies.size()));
  for (const auto& dep : r.dependencies) put(out, dep);
  put(out, r.failure);
  put(out, static_cast<uint64_t>(r.pch_unreadable));
  put(out, r.pch_bytes);
  put(out, static_cast<uint64_t>(r.pch_built));
  put(out, static_cast<uint64_t>(r.pch_used));
  put(out, r.pch_build_ms);
  put(out, r.compile_ms);
  return out;
}

bool decode_result(std::string_view bytes, BackendResult& r) {
  Reader in{bytes};
  r.ok = in.scalar<uint64_t>() != 0;
  r.object = in.string();
  auto count = in.scalar<uint64_t>();
  for (uint64_t i = 0; in.ok && i < count; ++i) {
    Diagnostic d;
    d.severity = static_cast<Severity>(in.scalar<uint64_t>());
    d.message = in.string();
    d.file = in.string();
    d.line = static_cast<unsigned>(in.scalar<uint64_t>());
    d.column = static_cast<unsigned>(in.scalar<uint64_t>());
    d.source_line = in.string();
    r.diagnostics.push_back(std::move(d));
  }
  count = in.scalar<uint64_t>();
  for (uint64_t i = 0; in.ok && i < count; ++i) r.dependencies.push_back(in.string());
  r.failure = in.string();
  r.pch_unreadable = in.scalar<uint64_t>() != 0;
  r.pch_bytes = in.string();
  r.pch_built = in.scalar<uint64_t>() != 0;
  r.pch_used = in.scalar<uint64_t>() != 0;
  r.pch_build_ms = in.scalar<double>();
  r.compile_ms = in.scalar<double>();
  return in.ok && in.in.empty();
}

}  // namespace ebpfrun::compiler
