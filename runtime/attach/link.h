// runtime/attach — an attached program, as an owned handle.
//
// A Link is one attach spec's worth of kernel attachments: usually one libbpf
// bpf_link, several for a perf event opened on every CPU, or a legacy
// BPF_PROG_ATTACH attachment (sk_msg / sk_skb onto a sockmap) that libbpf 1.1
// has no link for. Destroying or detaching it removes them all, so a program
// is attached exactly as long as its Link lives.
//
// A USDT link uses state kept in its bpf_object: destroy links before the
// object they came from. Detaching an sk_msg / sk_skb program from a sockmap
// affects sockets added to the map afterwards; sockets already in it keep the
// program until they leave the map (that is how the kernel does it).
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

struct bpf_link;

namespace ebpfrun::attach {

class Link {
 public:
  // An empty, detached link.
  Link() = default;
  // Takes ownership of libbpf links created for `spec`.
  static Link adopt(std::string spec, std::vector<bpf_link*> links);
  // Takes ownership of a BPF_PROG_ATTACH attachment: both fds (dup'ed by the
  // caller, so they outlive the object) are closed after bpf_prog_detach2.
  static Link adopt_prog_attach(std::string spec, int prog_fd, int target_fd, bpf_attach_type type);

  Link(Link&& other) noexcept;
  Link& operator=(Link&& other) noexcept;
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link();

  // The canonical spec this link was attached with.
  const std::string& spec() const { return spec_; }
  bool attached() const { return !links_.empty() || prog_fd_ >= 0; }
  // How many kernel attachments it holds (e.g. one per CPU for a perf event).
  size_t size() const { return links_.size() + (prog_fd_ >= 0 ? 1 : 0); }
  // Removes every attachment now; idempotent. Failures are logged, not returned,
  // because there is nothing a caller could do about them.
  void detach();
  // The kernel's id of the (first) BPF link, or 0 when the attachment is not a
  // BPF link (legacy perf event or BPF_PROG_ATTACH attachments).
  uint32_t id() const;

 private:
  std::string spec_;
  std::vector<bpf_link*> links_;
  int prog_fd_ = -1;
  int target_fd_ = -1;
  bpf_attach_type attach_type_ = BPF_CGROUP_INET_INGRESS;
};

}  // namespace ebpfrun::attach
