# Compiles the shipped BPF sources into prebuilt objects (see Prebuilt.cmake).
# cmake -DEBPFRUN=bin -DCOMPILER_LIB=so -DBPF_DIR=dir -DOUT=dir -DCACHE=dir
#       -DVARIANTS=src|D1,D2:src|... -P prebuild_objects.cmake
# Objects are named for their source text and defines, so the old ones are
# removed first: an object of an edited source would never be used again.
file(GLOB old ${OUT}/*.o)
if(old)
  file(REMOVE ${old})
endif()
file(MAKE_DIRECTORY ${OUT})
string(REPLACE ":" ";" variants "${VARIANTS}")
set(index "")
foreach(variant ${variants})
  string(FIND "${variant}" "|" bar)
  string(SUBSTRING "${variant}" 0 ${bar} source)
  math(EXPR rest "${bar} + 1")
  string(SUBSTRING "${variant}" ${rest} -1 defines)
  set(args "")
  if(defines)
    string(REPLACE "," ";" define_list "${defines}")
    foreach(define ${define_list})
      list(APPEND args -D ${define})
    endforeach()
  endif()
  # The build's own cache keeps rebuilds quick and the user's cache clean. A
  # sanitizer build's leak report is the tests' business, not the build's.
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env EBPFRUN_COMPILER_LIB=${COMPILER_LIB} XDG_CACHE_HOME=${CACHE} ASAN_OPTIONS=detect_leaks=0
            ${EBPFRUN} compile ${BPF_DIR}/${source} ${args} --prebuilt ${OUT}
    RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  # A source the build machine's kernel types cannot compile (an older kernel
  # lacking a type it uses) is left to the runtime compile, as without BTF;
  # ctest lua_collector_prebuilt reports the missing object.
  if(NOT result EQUAL 0)
    message(WARNING "prebuilding ${source} ${defines} failed; it will be compiled when used:\n${output}")
  else()
    string(APPEND index "${source} ${defines}\n")
  endif()
endforeach()
file(GLOB built RELATIVE ${OUT} ${OUT}/*.o)
list(SORT built)
string(REPLACE ";" "\n" built_lines "${built}")
file(WRITE ${OUT}/index.txt "# Prebuilt BPF objects (cmake/Prebuilt.cmake): source and defines, then the objects.\n${index}\n${built_lines}\n")
