// rmdetect: file and directory deletions (unlink, unlinkat, rmdir) with the
// path as the caller passed it, the directory it is relative to, and the
// outcome, from the syscall tracepoints.
//
// A relative path means little without the caller's working directory (or
// the directory open as dirfd), and by the time user space could look at
// /proc/PID/cwd the process may be gone. So the entry walks that directory's
// dentries up to the root (as the kernel's d_path does, crossing mount
// points) and records the names; user space joins them in reverse.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "ebpfrun.h"
#include "ebpfrun_events.h"

#define PATH_LEN  1024 // bytes kept of the path as passed, NUL included
#define NAME_LEN  256  // bytes kept of one directory name (NAME_MAX + 1)
#define DIR_SIZE  4096 // bytes for the directory's names
#define MAX_DEPTH 40   // dentries and mount crossings walked

#define AT_FDCWD_VALUE    -100
#define AT_REMOVEDIR_FLAG 0x200

enum rm_call { RM_UNLINK = 0, RM_UNLINKAT = 1, RM_RMDIR = 2 };

#define RM_DIR_RESOLVED 1 // dir holds the whole directory, root included
#define RM_DIR_CUT      2 // deeper than MAX_DEPTH or DIR_SIZE: dir is a suffix
#define RM_DIR_BAD_FD   4 // dirfd was not an open file

// One deletion. dir holds dir_count directory names, innermost first, each
// NUL-terminated (the directory the path is relative to; empty for an
// absolute path). Only the bytes up to dir + dir_size are sent.
struct rm_event {
    __u64 ts_ns;
    __u32 pid;
    __u32 tid;
    __u32 uid;
    __s32 ret;
    __u32 call;      // enum rm_call
    __u32 flags;     // unlinkat's flags (AT_REMOVEDIR)
    __s32 dirfd;     // unlinkat's dirfd; AT_FDCWD for the others
    __u32 dir_flags; // RM_DIR_*
    __u32 dir_count;
    __u32 dir_size;
    char comm[16];
    char path[PATH_LEN];
    char dir[DIR_SIZE];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u32);
    __type(value, struct rm_event);
} pending SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct rm_event);
} scratch SEC(".maps");

// 1 MiB: hundreds of the largest events, thousands of typical ones, while the
// consumer drains it within its 1 ms wakeup window. Each MiB here is two of
// the reader's resident memory (the data area is mapped twice), so it is not
// made larger than that needs.
EBPFRUN_RINGBUF_WITH_DROPS(events, 1 << 20);

// The directory that `dfd` stands for: the working directory for AT_FDCWD,
// else the open file's path. Returns false when dfd is not an open file.
static __always_inline bool dir_of(struct task_struct *task, int dfd, struct path *out)
{
    if (dfd == AT_FDCWD_VALUE) {
        BPF_CORE_READ_INTO(out, task, fs, pwd);
        return true;
    }
    if (dfd < 0)
        return false;
    struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
    if ((unsigned int)dfd >= BPF_CORE_READ(fdt, max_fds))
        return false;
    struct file **fds = BPF_CORE_READ(fdt, fd);
    struct file *file = NULL;
    bpf_probe_read_kernel(&file, sizeof(file), &fds[dfd]);
    if (!file)
        return false;
    BPF_CORE_READ_INTO(out, file, f_path);
    return true;
}

// State of one directory walk, for walk_step.
struct walk {
    struct rm_event *e;
    struct dentry *dentry;
    struct vfsmount *vfsmnt;
    struct dentry *root_dentry;
    struct vfsmount *root_mnt;
    __u32 off;
    __u32 count;
    bool done;
};

// One step up from walk->dentry: records its name, or crosses to the mount
// below when it is a mount's root (a mount's root dentry is not a name of its
// own: the path goes on from the dentry it is mounted on). Returns 1 to stop.
// It runs under bpf_loop, which the verifier checks once, rather than as an
// unrolled loop, whose states multiply with every iteration.
static long walk_step(__u32 index, struct walk *w)
{
    struct dentry *dentry = w->dentry;
    struct vfsmount *vfsmnt = w->vfsmnt;
    if (dentry == w->root_dentry && vfsmnt == w->root_mnt) {
        w->done = true; // the task's root
        return 1;
    }
    if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
        struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
        struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);
        if (parent == mnt) {
            w->done = true; // the root of the mount tree
            return 1;
        }
        w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
        w->vfsmnt = &parent->mnt;
        return 0;
    }
    struct dentry *up = BPF_CORE_READ(dentry, d_parent);
    if (up == dentry) {
        w->done = true; // a file system's root outside the mount tree
        return 1;
    }
    __u32 off = w->off;
    if (off > DIR_SIZE - NAME_LEN)
        return 1;
    long n =
        bpf_probe_read_kernel_str(&w->e->dir[off], NAME_LEN, BPF_CORE_READ(dentry, d_name.name));
    if (n <= 0)
        return 1;
    w->off = off + n;
    w->count++;
    w->dentry = up;
    return 0;
}

// Records the names from `dir` up to the task's root (or the root of all
// mounts), innermost first.
static __always_inline void walk_dir(struct rm_event *e, struct task_struct *task, struct path *dir)
{
    struct walk w = {
        .e = e,
        .dentry = dir->dentry,
        .vfsmnt = dir->mnt,
        .root_dentry = BPF_CORE_READ(task, fs, root.dentry),
        .root_mnt = BPF_CORE_READ(task, fs, root.mnt),
    };
    bpf_loop(MAX_DEPTH, walk_step, &w, 0);
    e->dir_flags |= w.done ? RM_DIR_RESOLVED : RM_DIR_CUT;
    e->dir_count = w.count;
    e->dir_size = w.off;
}

static __always_inline int record(enum rm_call call, int dfd, const char *path, __u32 flags)
{
    __u32 zero = 0;
    struct rm_event *e = bpf_map_lookup_elem(&scratch, &zero);
    if (!e)
        return 0;
    __u64 id = bpf_get_current_pid_tgid();
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    e->ts_ns = bpf_ktime_get_ns();
    e->pid = id >> 32;
    e->tid = (__u32)id;
    e->uid = (__u32)bpf_get_current_uid_gid();
    e->ret = 0;
    e->call = call;
    e->flags = flags;
    e->dirfd = dfd;
    e->dir_flags = 0;
    e->dir_count = 0;
    e->dir_size = 0;
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    e->path[0] = 0;
    bpf_probe_read_user_str(e->path, sizeof(e->path), path);
    if (e->path[0] != '/') {
        struct path dir = {};
        if (dir_of(task, dfd, &dir))
            walk_dir(e, task, &dir);
        else
            e->dir_flags |= RM_DIR_BAD_FD;
    }
    __u32 tid = e->tid;
    bpf_map_update_elem(&pending, &tid, e, BPF_ANY);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_unlink")
int rmdetect_unlink(struct trace_event_raw_sys_enter *ctx)
{
    /*FILTER*/
    return record(RM_UNLINK, AT_FDCWD_VALUE, (const char *)ctx->args[0], 0);
}

SEC("tracepoint/syscalls/sys_enter_unlinkat")
int rmdetect_unlinkat(struct trace_event_raw_sys_enter *ctx)
{
    /*FILTER*/
    return record(RM_UNLINKAT, (int)ctx->args[0], (const char *)ctx->args[1], (__u32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_rmdir")
int rmdetect_rmdir(struct trace_event_raw_sys_enter *ctx)
{
    /*FILTER*/
    return record(RM_RMDIR, AT_FDCWD_VALUE, (const char *)ctx->args[0], AT_REMOVEDIR_FLAG);
}

// The exits need no filter: only calls whose entry passed it have a record.
static __always_inline int emit(long ret)
{
    __u32 tid = (__u32)bpf_get_current_pid_tgid();
    struct rm_event *e = bpf_map_lookup_elem(&pending, &tid);
    if (!e)
        return 0;
    e->ret = (__s32)ret;
    __u64 size = __builtin_offsetof(struct rm_event, dir) + e->dir_size;
    if (size > sizeof(*e))
        size = sizeof(*e);
    EBPFRUN_OUTPUT(events, e, size);
    bpf_map_delete_elem(&pending, &tid);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_unlink")
int rmdetect_unlink_exit(struct trace_event_raw_sys_exit *ctx)
{
    return emit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_unlinkat")
int rmdetect_unlinkat_exit(struct trace_event_raw_sys_exit *ctx)
{
    return emit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_rmdir")
int rmdetect_rmdir_exit(struct trace_event_raw_sys_exit *ctx)
{
    return emit(ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
