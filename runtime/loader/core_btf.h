// runtime/loader — a small kernel BTF for an object's CO-RE relocations.
//
// libbpf (1.1) relocates a CO-RE object against the whole kernel BTF: it reads
// /sys/kernel/btf/vmlinux (5.5 MB on 6.18) into one buffer and copies it into
// a second, about 11 MiB resident at the load, more than everything else a
// tool holds. The relocations only look at the types they name, so a BTF of
// just those types (and what they embed) relocates the object the same way.
// It is built once per object's BTF and kernel BTF, kept in a cache directory,
// and given to libbpf as btf_custom_path on every later open.
#pragma once

#include <string>
#include <string_view>

namespace ebpfrun::loader {

namespace detail {
class RawBtf;     // loader/internal/raw_btf.h
class KernelBtf;  // loader/internal/kernel_btf.h
}  // namespace detail

// The raw bytes of a BTF holding every kernel type that the CO-RE relocations
// of the BPF ELF `elf` can match, or empty (with `why` set) when the object
// cannot be served from one: it has no CO-RE relocations; it needs the whole
// kernel BTF anyway (BTF-bound programs such as fentry or lsm, typed
// ksyms); a relocation asks for a kernel type id or a full type match; or a
// relocated type is not in `kernel` (libbpf then searches module BTFs, which
// a custom BTF would switch off).
std::string minimal_core_btf(std::string_view elf, const detail::RawBtf& kernel, std::string* why = nullptr);

// The path of a small BTF for `elf` in `kernel`'s cache directory (created
// when missing), cut from the whole kernel BTF on the first call; empty when
// the object needs no such BTF or it cannot be had (the reason goes to the
// debug log).
std::string cached_core_btf(std::string_view elf, detail::KernelBtf& kernel);

}  // namespace ebpfrun::loader
