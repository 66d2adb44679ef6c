# Prebuilt objects of the shipped BPF sources (bpf/*.bpf.c): compiled after
# ebpfrun and its compiler library are built, by `ebpfrun compile --prebuilt`,
# into build/prebuilt/ (beside the binary) and installed into
# lib/ebpfrun/prebuilt/ (beside the compiler library). A shipped collector or
# tool then loads one of these instead of compiling, so it starts without the
# clang backend even with an empty cache (runtime/build/prebuilt.cpp).
#
# They are CO-RE objects compiled against the build machine's kernel types
# (/sys/kernel/btf/vmlinux); libbpf relocates them to the kernel they load on.
# Without that file there is nothing to compile against: nothing is prebuilt,
# and the shipped sources are compiled at run time as before.
#
# Each source is prebuilt with no defines, and with the defines the scripts
# pass by default (SOURCE|DEFINE,DEFINE...); other defines (--max-entries,
# --min-us, ...) are compiled at run time. The order of the defines matters:
# it is the order the scripts give them in.
set(EBPFRUN_PREBUILT_EXTRA
  "tcplife.bpf.c|TCP_EVENTS=1"
  "tcplife.bpf.c|TCP_EVENTS=2"
  "tcplife.bpf.c|TCP_EVENTS=4"
  "offcputime.bpf.c|OFFCPU_MIN_NS=1000ULL,OFFCPU_KERNEL_STACKS=1,OFFCPU_USER_STACKS=1"
  "fileio.bpf.c|PER_FILE=1"
  "scheduler.bpf.c|RUNQ_ONLY=1"
  "syscalls.bpf.c|COUNT_ONLY=1"
  "network.bpf.c|PER_ADDRESS=1")

set(EBPFRUN_KERNEL_BTF /sys/kernel/btf/vmlinux)
if(EXISTS ${EBPFRUN_KERNEL_BTF})
  file(GLOB EBPFRUN_PREBUILT_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/bpf/*.bpf.c)
  file(GLOB EBPFRUN_PREBUILT_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/bpf/*.h)
  set(variants "")
  foreach(source ${EBPFRUN_PREBUILT_SOURCES})
    get_filename_component(name ${source} NAME)
    list(APPEND variants "${name}|")
  endforeach()
  list(APPEND variants ${EBPFRUN_PREBUILT_EXTRA})
  string(REPLACE ";" ":" variants_arg "${variants}")
  set(EBPFRUN_PREBUILT_DIR ${PROJECT_BINARY_DIR}/prebuilt)
  add_custom_command(
    OUTPUT ${EBPFRUN_PREBUILT_DIR}/index.txt
    COMMAND ${CMAKE_COMMAND} -DEBPFRUN=$<TARGET_FILE:ebpfrun> -DCOMPILER_LIB=$<TARGET_FILE:ebpfrun_clang>
            -DBPF_DIR=${PROJECT_SOURCE_DIR}/bpf -DOUT=${EBPFRUN_PREBUILT_DIR} -DCACHE=${PROJECT_BINARY_DIR}/prebuilt-cache
            "-DVARIANTS=${variants_arg}" -P ${PROJECT_SOURCE_DIR}/cmake/prebuild_objects.cmake
    DEPENDS ebpfrun ebpfrun_clang ${EBPFRUN_PREBUILT_SOURCES} ${EBPFRUN_PREBUILT_HEADERS}
            ${PROJECT_SOURCE_DIR}/cmake/prebuild_objects.cmake
    COMMENT "Prebuilding the shipped BPF objects"
    VERBATIM)
  add_custom_target(ebpfrun_prebuilt ALL DEPENDS ${EBPFRUN_PREBUILT_DIR}/index.txt)
  install(DIRECTORY ${EBPFRUN_PREBUILT_DIR}/ DESTINATION lib/ebpfrun/prebuilt FILES_MATCHING PATTERN "*.o"
          PATTERN "index.txt")
  set(EBPFRUN_HAVE_PREBUILT ON)
else()
  message(STATUS "${EBPFRUN_KERNEL_BTF} is missing: the shipped BPF objects are not prebuilt "
                 "(they are compiled when first used)")
  set(EBPFRUN_HAVE_PREBUILT OFF)
endif()
