#include "attach/link.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/log.h"

namespace ebpfrun::attach {

Link Link::adopt(std::string spec, std::vector<bpf_link*> links) {
  Link link;
  link.spec_ = std::move(spec);
  link.links_ = std::move(links);
  return link;
}

Link Link::adopt_prog_attach(std::string spec, int prog_fd, int target_fd, bpf_attach_type type) {
  Link link;
  link.spec_ = std::move(spec);
  link.prog_fd_ = prog_fd;
  link.target_fd_ = target_fd;
  link.attach_type_ = type;
  return link;
}

Link::Link(Link&& other) noexcept
    : spec_(std::move(other.spec_)),
      links_(std::exchange(other.links_, {})),
      prog_fd_(std::exchange(other.prog_fd_, -1)),
      target_fd_(std::exchange(other.target_fd_, -1)),
      attach_type_(other.attach_type_) {}

Link& Link::operator=(Link&& other) noexcept {
  if (this != &other) {
    detach();
    spec_ = std::move(other.spec_);
    links_ = std::exchange(other.links_, {});
    prog_fd_ = std::exchange(other.prog_fd_, -1);
    target_fd_ = std::exchange(other.target_fd_, -1);
    attach_type_ = other.attach_type_;
  }
  return *this;
}

Link::~Link() { detach(); }

void Link::detach() {
  if (!attached()) return;
  for (bpf_link* link : links_)
    if (int err = bpf_link__destroy(link); err != 0) log::warn("detaching {} failed: {}", spec_, std::strerror(-err));
  links_.clear();
  if (prog_fd_ >= 0) {
    if (bpf_prog_detach2(prog_fd_, target_fd_, attach_type_) != 0) {
      int err = errno;
      log::warn("detaching {} failed: {}", spec_, std::strerror(err));
    }
    ::close(prog_fd_);
    ::close(target_fd_);
    prog_fd_ = target_fd_ = -1;
  }
  log::debug("detached {}", spec_);
}

uint32_t Link::id() const {
  if (links_.empty()) return 0;
  int fd = bpf_link__fd(links_.front());
  if (fd < 0) return 0;
  bpf_link_info info{};
  uint32_t length = sizeof info;
  return bpf_obj_get_info_by_fd(fd, &info, &length) == 0 ? info.id : 0;
}

}  // namespace ebpfrun::attach
