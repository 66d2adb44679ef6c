# embed_files(OUTPUT out.cpp BASE dir HEADER x.h NAMESPACE ns FUNCTION fn TYPE T FILES ...)
# Adds a build rule that regenerates OUTPUT whenever one of FILES changes.
function(embed_files)
  cmake_parse_arguments(E "" "OUTPUT;BASE;HEADER;NAMESPACE;FUNCTION;TYPE" "FILES" ${ARGN})
  add_custom_command(
    OUTPUT ${E_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -DOUTPUT=${E_OUTPUT} "-DFILES=$<JOIN:${E_FILES},|>" -DBASE=${E_BASE}
            -DHEADER=${E_HEADER} -DNAMESPACE=${E_NAMESPACE} -DFUNCTION=${E_FUNCTION} -DTYPE=${E_TYPE}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_files.cmake
    DEPENDS ${E_FILES} ${PROJECT_SOURCE_DIR}/cmake/embed_files.cmake
    COMMENT "Embedding ${E_BASE}"
    VERBATIM)
endfunction()
