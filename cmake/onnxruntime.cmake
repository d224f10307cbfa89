# ONNX Runtime for the onnx provider (src/providers/onnx), as scripts/bootstrap installs it in the
# deps cache: include/onnxruntime_c_api.h and lib/libonnxruntime.so.<version>.
#
# Only the header is needed to build. The library is loaded at run time with dlopen (path from
# [providers.onnx] library, default XERVO_ONNXRUNTIME_LIBRARY below), not linked: xervo binaries then
# start, and every other provider works, on a machine without ONNX Runtime, and a user can point
# one xervo at another ONNX Runtime build (a GPU one, a newer release) without rebuilding. The
# provider asks the library for the API version of this header and refuses an older library.
#
# Without the header (bootstrap could not reach the package index, or XERVO_ONNXRUNTIME=0) the
# provider is not built: XERVO_HAVE_ONNX stays undefined and its tests are not added.
set(XERVO_ONNXRUNTIME_VERSION 1.20.1)
set(XERVO_ONNXRUNTIME_DIR "${XERVO_DEPS_DIR}/onnxruntime-${XERVO_ONNXRUNTIME_VERSION}"
    CACHE PATH "ONNX Runtime folder (include/onnxruntime_c_api.h, lib/libonnxruntime.so.*)")
find_path(XERVO_ONNXRUNTIME_INCLUDE_DIR onnxruntime_c_api.h PATHS "${XERVO_ONNXRUNTIME_DIR}/include"
          NO_DEFAULT_PATH)
set(XERVO_ONNXRUNTIME_LIBRARY "${XERVO_ONNXRUNTIME_DIR}/lib/libonnxruntime.so.${XERVO_ONNXRUNTIME_VERSION}"
    CACHE FILEPATH "libonnxruntime the onnx provider loads by default (run time, dlopen)")
if(XERVO_ONNXRUNTIME_INCLUDE_DIR)
  add_library(xervo_onnxruntime_headers INTERFACE)
  target_include_directories(xervo_onnxruntime_headers SYSTEM INTERFACE "${XERVO_ONNXRUNTIME_INCLUDE_DIR}")
  target_compile_definitions(xervo_onnxruntime_headers INTERFACE
                             XERVO_ONNXRUNTIME_LIBRARY="${XERVO_ONNXRUNTIME_LIBRARY}")
  target_link_libraries(xervo_onnxruntime_headers INTERFACE ${CMAKE_DL_LIBS})
  add_library(xervo::onnxruntime_headers ALIAS xervo_onnxruntime_headers)
  message(STATUS "ONNX Runtime header: ${XERVO_ONNXRUNTIME_INCLUDE_DIR} (library at run time: ${XERVO_ONNXRUNTIME_LIBRARY})")
else()
  message(STATUS "ONNX Runtime not found in ${XERVO_ONNXRUNTIME_DIR}: the onnx provider is not built (run scripts/bootstrap)")
endif()
