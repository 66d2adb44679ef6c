// tp_btf programs bound to their tracepoint by the loader rather than by
// libbpf (private to runtime/loader).
//
// libbpf (1.1) binds a SEC("tp_btf/NAME") program to the kernel BTF type
// btf_trace_NAME, and to find that one type id it reads the whole kernel BTF
// at every load (5.5 MB on 6.18, held twice: about 11 MiB resident, a third
// of a shipped tool's peak). The ids are fixed for a kernel BTF, so the loader
// learns every tracepoint's once per kernel, keeps them in the cache directory
// next to the CO-RE cuts (core_btf.h), and binds the programs itself: a libbpf
// program handler (libbpf_register_prog_handler) opens tp_btf sections as raw
// tracepoint programs, for which libbpf reads no kernel BTF, and turns each
// into the tracing program it is, with its target's id, just before the
// kernel is given it. Once loaded they are ordinary tp_btf programs.
#pragma once

#include <bpf/libbpf.h>

#include <string>
#include <string_view>

namespace ebpfrun::loader::detail {

class KernelBtf;  // kernel_btf.h

// Registers the program handler, once per process; before any object with a
// tp_btf program is opened.
void bind_tp_btf_programs_here();

// Makes the targets of `elf`'s tp_btf programs known before it is loaded:
// from the cache file of the running kernel's BTF in `kernel`'s cache
// directory, or, when a target is missing there, from the whole kernel BTF
// once (and the file then written; nothing is written without a cache
// directory). A target the
// kernel's own BTF lacks is looked for in the modules' BTF at the load, as
// libbpf does, and failing that, the load fails with ESRCH
// (finish_tp_btf_binding says why).
void learn_tp_btf_targets(std::string_view elf, KernelBtf& kernel);

// After a load: closes the module BTF descriptors this thread's load bound
// programs to (a loaded program holds its own reference), and returns why a
// program could not be bound, or empty.
std::string finish_tp_btf_binding();

// The type `prog` is loaded as: a tp_btf program is opened as a raw
// tracepoint program but loaded as a tracing one.
bpf_prog_type load_type(const bpf_program* prog);

}  // namespace ebpfrun::loader::detail
