# Two extra build configurations, each in a build directory of its own:
#
#   EBPFRUN_SANITIZE=ON  the host code (runtime, bindings, cli, tests) built with
#                        AddressSanitizer + UndefinedBehaviorSanitizer, with g++ or
#                        clang++-16. The clang backend module (libebpfrun-clang.so)
#                        stays unsanitized: it links LLVM, which is not built with
#                        ASan, and it only ever runs in a forked compile child.
#                        ./setup.sh test-sanitize builds it in build-asan/.
#   EBPFRUN_FUZZ=ON      libFuzzer targets (tests/fuzz/) built with clang++-16 and
#                        -fsanitize=fuzzer,address,undefined. Only the runtime
#                        components the targets need are compiled; nothing that
#                        links LLVM. ./setup.sh test-fuzz builds it in build-fuzz/.
option(EBPFRUN_SANITIZE "Build the host code with ASan and UBSan (not the LLVM-linking clang backend)" OFF)
option(EBPFRUN_FUZZ "Build only the libFuzzer targets of tests/fuzz (needs CMAKE_CXX_COMPILER=clang++-16)" OFF)

if(EBPFRUN_SANITIZE AND EBPFRUN_FUZZ)
  message(FATAL_ERROR "EBPFRUN_SANITIZE and EBPFRUN_FUZZ are separate configurations: use one build directory for each")
endif()

# UBSan findings abort (-fno-sanitize-recover) so that a test fails on them
# rather than printing a report nobody reads.
set(EBPFRUN_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)

if(EBPFRUN_SANITIZE)
  # -O1: the usual optimization level for sanitizer builds; it keeps stack traces
  # close to the source and compiles a good deal faster than -O2 under ASan.
  add_compile_options(${EBPFRUN_SANITIZER_FLAGS} -O1)
  add_link_options(-fsanitize=address,undefined)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC's documentation warns that -fsanitize=address makes
    # -Wmaybe-uninitialized report false positives (here: inside std::regex and
    # std::function), which -Werror would turn into build failures.
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
endif()

if(EBPFRUN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR NOT CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 16)
    message(FATAL_ERROR "EBPFRUN_FUZZ needs clang 16's libFuzzer: configure with "
                        "-DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 (found ${CMAKE_CXX_COMPILER_ID} "
                        "${CMAKE_CXX_COMPILER_VERSION})")
  endif()
  # Libraries get the coverage instrumentation without libFuzzer's main(); the
  # fuzz executables link -fsanitize=fuzzer (tests/fuzz/CMakeLists.txt).
  add_compile_options(-fsanitize=fuzzer-no-link ${EBPFRUN_SANITIZER_FLAGS})
  add_link_options(-fsanitize=address,undefined)
endif()

# Keeps one target out of the sanitizer build (the flags above are directory-wide;
# the later -fno-sanitize=all wins).
function(ebpfrun_unsanitized target)
  if(EBPFRUN_SANITIZE OR EBPFRUN_FUZZ)
    target_compile_options(${target} PRIVATE -fno-sanitize=all)
    target_link_options(${target} PRIVATE -fno-sanitize=all)
  endif()
endfunction()
