// Routes libbpf's own messages into the project's logger, so that libbpf never
// prints straight to stderr and its detail shows only with -v. Every component
// that calls libbpf (loader, system probes, introspection) calls this first;
// it is a logging concern, so it lives here rather than in one of them.
#pragma once

namespace ebpfrun::log {

// Idempotent and thread-safe.
void route_libbpf_messages();

}  // namespace ebpfrun::log
