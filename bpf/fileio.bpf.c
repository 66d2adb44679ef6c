// fileio collector: bytes, calls, errors and time of read/write-family system
// calls per process, and with -DPER_FILE=1 per file as well.
//
// The per-syscall tracepoints (syscalls/sys_enter_read, ...) are used rather
// than raw_syscalls so that only these ten calls pay for tracing. The enter
// side records the fd and a start time per thread (and is where the filter
// applies: the caller is the task the I/O belongs to); the exit side adds the
// returned byte count.
//
// Per file: the path is resolved here, in BPF, from the fd at exit time:
// current->files->fdt->fd[fd] gives the struct file, and its dentry chain is
// walked up to the root, across mount points, one name per level. Resolving
// in user space from /proc/PID/fd would lose every file of a process that
// closed the fd or exited before the next interval, which short-lived
// programs always do. The names are kept once per file in file_paths; user
// space joins them into a path.
//
// A thread's call in progress (start time, fd, read or write) lives in task
// storage, which the kernel frees with the task: no hash insert and delete
// per call, and nothing left behind by a thread that exits inside one
// (killed while blocked in a read, say). The tracepoints stay the classic
// per-syscall ones, which give no typed task: the storage is reached through
// bpf_get_current_task_btf().
//
// Bounded maps. io_stats and file_io_stats are LRU hashes: a new process (or
// file) always gets a slot, and when a map is full the entry updated least
// recently is evicted instead of every later process going uncounted. An
// exited process's entries are kept, not deleted, so that user space reads a
// short-lived process's counts at least once. file_paths is LRU too (a path
// can be resolved again). Inserts and failed inserts are counted
// (ebpfrun_maps.h).
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "ebpfrun.h"
#include "ebpfrun_maps.h"

#define OP_READ  0
#define OP_WRITE 1

// How deep a path is followed and how much of each name is kept; deeper
// paths are reported with a leading ".../" (see file_path.truncated).
#define PATH_DEPTH 16
#define NAME_LEN   48

struct io_start {
    __u64 ts; // 0: no traced call in progress
    __u32 fd;
    __u32 op;
};

struct io_key {
    __u32 pid;
    __u32 op;
};

struct io_stats {
    __u64 bytes;
    __u64 ops;
    __u64 errors;
    __u64 total_ns;
    char comm[16];
};

// A file as the kernel names it: device and inode, plus the first bytes of
// the dentry name, which tell apart the anonymous-inode files ([eventfd],
// [timerfd], ...) that all share one inode.
struct file_id {
    __u64 ino;
    __u32 dev;
    __u32 pad;
    char name[16];
};

struct file_io_key {
    __u32 pid;
    __u32 op;
    struct file_id file;
};

// The dentry names from the file up to the root (parts[0] is the file's own
// name). pseudo: the dentry belongs to no mounted tree (pipes, sockets,
// anonymous inodes), so user space names it the way /proc/PID/fd does.
struct file_path {
    __u32 depth;
    __u16 mode;
    __u8 pseudo;
    __u8 truncated;
    char parts[PATH_DEPTH][NAME_LEN];
};

struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct io_start);
} io_starts SEC(".maps");

EBPFRUN_COUNTED_MAP(io_stats, BPF_MAP_TYPE_LRU_HASH, struct io_key, struct io_stats,
                    EBPFRUN_MAP_SIZE(16384));
EBPFRUN_COUNTED_MAP(file_io_stats, BPF_MAP_TYPE_LRU_HASH, struct file_io_key, struct io_stats,
                    EBPFRUN_MAP_SIZE(16384));

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, struct file_id);
    __type(value, struct file_path);
} file_paths SEC(".maps");

// A struct file_path is too large for the BPF stack.
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct file_path);
} path_scratch SEC(".maps");

static __always_inline int io_enter(__u64 fd, __u32 op)
{
    /*FILTER*/
    struct io_start *start = bpf_task_storage_get(&io_starts, bpf_get_current_task_btf(), 0,
                                                  BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!start)
        return 0;
    start->fd = (__u32)fd;
    start->op = op;
    start->ts = bpf_ktime_get_ns();
    return 0;
}

static __always_inline struct io_stats *stats_of(void *map, void *counters, void *key)
{
    struct io_stats *stats = bpf_map_lookup_elem(map, key);
    if (stats)
        return stats;
    struct io_stats fresh = {};
    ebpfrun_map_insert(map, counters, key, &fresh, BPF_NOEXIST);
    return bpf_map_lookup_elem(map, key);
}

static __always_inline void account(struct io_stats *stats, struct task_struct *task, long ret,
                                    __u64 elapsed)
{
    __sync_fetch_and_add(&stats->ops, 1);
    if (ret > 0)
        __sync_fetch_and_add(&stats->bytes, ret);
    else if (ret < 0)
        __sync_fetch_and_add(&stats->errors, 1);
    __sync_fetch_and_add(&stats->total_ns, elapsed);
    ebpfrun_refresh_comm(stats->comm, task);
}

#ifdef PER_FILE
// The task's file table is walked with direct loads (a BTF-typed task); the
// file pointer itself is a plain number, read with bpf_probe_read_kernel.
static __always_inline struct file *file_of_fd(struct task_struct *task, __u32 fd)
{
    struct files_struct *files = task->files;
    if (!files)
        return NULL;
    struct fdtable *fdt = files->fdt;
    if (!fdt || fd >= fdt->max_fds)
        return NULL;
    struct file **fds = fdt->fd;
    struct file *file = NULL;
    bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
    return file;
}

// Walks the dentry chain up to the root of the mount namespace, stepping from
// a mount's root to the mount point it is mounted on (what d_path() does).
static __always_inline void resolve_path(struct file *file, struct file_path *out)
{
    struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
    struct vfsmount *vfsmnt = BPF_CORE_READ(file, f_path.mnt);
    // container_of(), with the offset relocated for the running kernel.
    struct mount *mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
    out->depth = 0;
    out->pseudo = 0;
    out->truncated = 1;
    // Mount crossings use up iterations too, hence the extra room.
    for (int i = 0; i < PATH_DEPTH + 8; i++) {
        struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
        struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
        if (dentry == mnt_root || dentry == parent) {
            struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
            if (mnt != mnt_parent) {
                dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
                mnt = mnt_parent;
                vfsmnt = &mnt_parent->mnt;
                continue;
            }
            // The top. A dentry that is its own parent without being its
            // mount's root was never part of a tree: a pipe, a socket or an
            // anonymous inode, whose own name is all there is.
            if (dentry != mnt_root && out->depth == 0) {
                out->pseudo = 1;
                bpf_probe_read_kernel_str(out->parts[0], NAME_LEN,
                                          BPF_CORE_READ(dentry, d_name.name));
                out->depth = 1;
            }
            out->truncated = 0;
            break;
        }
        __u32 depth = out->depth;
        if (depth >= PATH_DEPTH)
            break;
        bpf_probe_read_kernel_str(out->parts[depth], NAME_LEN, BPF_CORE_READ(dentry, d_name.name));
        out->depth = depth + 1;
        dentry = parent;
    }
}

static __always_inline void account_file(struct task_struct *task, __u32 pid, __u32 op, __u32 fd,
                                         long ret, __u64 elapsed)
{
    struct file *file = file_of_fd(task, fd);
    if (!file)
        return;
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    struct file_io_key key = {.pid = pid, .op = op};
    key.file.ino = BPF_CORE_READ(inode, i_ino);
    key.file.dev = BPF_CORE_READ(inode, i_sb, s_dev);
    bpf_probe_read_kernel_str(key.file.name, sizeof(key.file.name),
                              BPF_CORE_READ(file, f_path.dentry, d_name.name));
    if (!bpf_map_lookup_elem(&file_paths, &key.file)) {
        __u32 zero = 0;
        struct file_path *path = bpf_map_lookup_elem(&path_scratch, &zero);
        if (path) {
            resolve_path(file, path);
            path->mode = BPF_CORE_READ(inode, i_mode);
            bpf_map_update_elem(&file_paths, &key.file, path, BPF_ANY);
        }
    }
    struct io_stats *stats = stats_of(&file_io_stats, &file_io_stats_inserts, &key);
    if (stats)
        account(stats, task, ret, elapsed);
}
#endif

// Only calls whose entry passed the filter have a start record, so the exit
// side needs no filter of its own.
static __always_inline int io_exit(long ret)
{
    struct task_struct *task = bpf_get_current_task_btf();
    struct io_start *start = bpf_task_storage_get(&io_starts, task, 0, 0);
    if (!start || !start->ts)
        return 0;
    __u64 elapsed = bpf_ktime_get_ns() - start->ts;
    __u32 op = start->op, fd = start->fd;
    start->ts = 0;

    struct io_key key = {.pid = task->tgid, .op = op};
    struct io_stats *stats = stats_of(&io_stats, &io_stats_inserts, &key);
    if (stats)
        account(stats, task, ret, elapsed);
#ifdef PER_FILE
    account_file(task, key.pid, op, fd, ret, elapsed);
#else
    (void)fd;
#endif
    return 0;
}

// One enter and one exit program per system call; the first argument is the
// fd for all of them.
#define IO_SYSCALL(name, op)                                                                       \
    SEC("tracepoint/syscalls/sys_enter_" #name)                                                    \
    int fileio_enter_##name(struct trace_event_raw_sys_enter *ctx)                                 \
    {                                                                                              \
        return io_enter(ctx->args[0], op);                                                         \
    }                                                                                              \
    SEC("tracepoint/syscalls/sys_exit_" #name)                                                     \
    int fileio_exit_##name(struct trace_event_raw_sys_exit *ctx)                                   \
    {                                                                                              \
        return io_exit(ctx->ret);                                                                  \
    }

IO_SYSCALL(read, OP_READ)
IO_SYSCALL(pread64, OP_READ)
IO_SYSCALL(readv, OP_READ)
IO_SYSCALL(preadv, OP_READ)
IO_SYSCALL(preadv2, OP_READ)
IO_SYSCALL(write, OP_WRITE)
IO_SYSCALL(pwrite64, OP_WRITE)
IO_SYSCALL(writev, OP_WRITE)
IO_SYSCALL(pwritev, OP_WRITE)
IO_SYSCALL(pwritev2, OP_WRITE)

char LICENSE[] SEC("license") = "GPL";
