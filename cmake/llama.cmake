# Imported targets for the llama.cpp build that scripts/bootstrap leaves in the deps cache:
#   xervo::llama  (libllama + ggml, include/ and ggml/include/)
#   xervo::llama_common  (llama.cpp's common library: chat templates, JSON-schema grammars, sampling)
set(XERVO_DEPS_DIR "$ENV{XERVO_DEPS_DIR}" CACHE PATH "bootstrap's cache folder")
if(NOT XERVO_DEPS_DIR)
  set(XERVO_DEPS_DIR "$ENV{HOME}/.cache/xervo/deps")
endif()
# -DXERVO_GPU=vulkan|cuda links the llama.cpp that bootstrap built with that ggml backend
# (XERVO_GPU=vulkan scripts/bootstrap); empty (the default): the CPU build.
set(XERVO_GPU "" CACHE STRING "GPU backend of the linked llama.cpp: empty (CPU), vulkan or cuda")
if(XERVO_GPU)
  get_filename_component(XERVO_LLAMA_DIR "${XERVO_DEPS_DIR}/llama.cpp-${XERVO_GPU}" REALPATH)
else()
  get_filename_component(XERVO_LLAMA_DIR "${XERVO_DEPS_DIR}/llama.cpp" REALPATH)
endif()
if(NOT EXISTS "${XERVO_LLAMA_DIR}/build/bin/libllama.so")
  message(FATAL_ERROR "llama.cpp not found in ${XERVO_LLAMA_DIR}: run scripts/bootstrap first"
                      " (XERVO_GPU=${XERVO_GPU} scripts/bootstrap for a GPU build)")
endif()
set(XERVO_LLAMA_SRC "${XERVO_LLAMA_DIR}/src")
set(XERVO_LLAMA_BIN "${XERVO_LLAMA_DIR}/build/bin")
set(XERVO_VOCAB_DIR "${XERVO_LLAMA_DIR}/vocab")

function(xervo_import_shared name file)
  add_library(${name} SHARED IMPORTED GLOBAL)
  set_target_properties(${name} PROPERTIES IMPORTED_LOCATION "${XERVO_LLAMA_BIN}/${file}")
endfunction()
xervo_import_shared(xervo_ggml_base libggml-base.so)
xervo_import_shared(xervo_ggml libggml.so)
xervo_import_shared(xervo_llama_lib libllama.so)
xervo_import_shared(xervo_llama_common_lib libllama-common.so)
# libllama-common.so exports its own, newer cpp-httplib under the same symbol names as Debian's.
# Whichever library comes first in an executable's DT_NEEDED list wins for every caller, so
# Debian's (the headers xervo compiles against) is put first in every binary that links common.
set_property(TARGET xervo_llama_common_lib PROPERTY INTERFACE_LINK_OPTIONS
             "SHELL:-Wl,--push-state,--no-as-needed -lcpp-httplib -Wl,--pop-state")

add_library(xervo_llama INTERFACE)
target_include_directories(xervo_llama SYSTEM INTERFACE "${XERVO_LLAMA_SRC}/include" "${XERVO_LLAMA_SRC}/ggml/include")
target_link_libraries(xervo_llama INTERFACE xervo_llama_lib xervo_ggml xervo_ggml_base)
add_library(xervo::llama ALIAS xervo_llama)

add_library(xervo_llama_common INTERFACE)
# Only common/: llama.cpp's vendor/ holds another nlohmann/json than Debian's, and mixing the two
# breaks linking. Common's headers we use compile against Debian's json.
target_include_directories(xervo_llama_common SYSTEM INTERFACE "${XERVO_LLAMA_SRC}/common")
target_link_libraries(xervo_llama_common INTERFACE xervo_llama_common_lib xervo::llama)
add_library(xervo::llama_common ALIAS xervo_llama_common)

# Binaries find the shared libraries in the cache without LD_LIBRARY_PATH.
set(CMAKE_BUILD_RPATH "${XERVO_LLAMA_BIN}")
set(CMAKE_INSTALL_RPATH "${XERVO_LLAMA_BIN}")
