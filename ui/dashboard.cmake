# The web dashboard: ui/ (TypeScript, Preact, uPlot) type-checked and built by Vite into
# <build>/ui/dist, then embedded in xervo_server as generated C++ (build_ui.cmake, embed_assets.cmake),
# again whenever a file under ui/ changes. scripts/bootstrap installs node/npm and runs `npm ci` in
# ui/; without them the build still succeeds with a warning and the server's / page says the
# dashboard was not built. Included from src/server/CMakeLists.txt; adds to the target xervo_server.
set(xervo_ui_dir "${PROJECT_SOURCE_DIR}/ui")
set(xervo_ui_out "${CMAKE_BINARY_DIR}/ui")
set(xervo_ui_cpp "${xervo_ui_out}/dashboard_assets.cpp")
file(MAKE_DIRECTORY "${xervo_ui_out}")
find_program(XERVO_UI_NODE node)
file(GLOB_RECURSE xervo_ui_sources CONFIGURE_DEPENDS "${xervo_ui_dir}/src/*" "${xervo_ui_dir}/public/*")
list(APPEND xervo_ui_sources "${xervo_ui_dir}/index.html" "${xervo_ui_dir}/package.json"
     "${xervo_ui_dir}/package-lock.json" "${xervo_ui_dir}/vite.config.ts" "${xervo_ui_dir}/tsconfig.json"
     "${xervo_ui_dir}/build_ui.cmake" "${xervo_ui_dir}/embed_assets.cmake")
set(xervo_ui_outputs "${xervo_ui_cpp}")
if(XERVO_UI_NODE AND EXISTS "${xervo_ui_dir}/node_modules/vite/bin/vite.js")
  list(APPEND xervo_ui_sources "${xervo_ui_dir}/node_modules/.package-lock.json")  # npm ci ran again
  set(XERVO_UI_BUILT ON CACHE INTERNAL "the dashboard is built from ui/")
else()
  # Nothing to build with yet: check again at every build (bootstrap may have run since).
  message(WARNING "dashboard: node or ui/node_modules missing (run scripts/bootstrap); the build embeds no "
                  "dashboard until they are there, and / says so")
  list(APPEND xervo_ui_outputs "${xervo_ui_out}/check-again")
  set_source_files_properties("${xervo_ui_out}/check-again" PROPERTIES SYMBOLIC ON)
  set(XERVO_UI_BUILT OFF CACHE INTERNAL "the dashboard is built from ui/")
endif()
add_custom_command(
  OUTPUT ${xervo_ui_outputs}
  COMMAND "${CMAKE_COMMAND}" "-DUI=${xervo_ui_dir}" "-DOUT_DIR=${xervo_ui_out}" "-DNODE=${XERVO_UI_NODE}" -P
          "${xervo_ui_dir}/build_ui.cmake"
  DEPENDS ${xervo_ui_sources}
  COMMENT "Building the dashboard (tsc, vite build)"
  VERBATIM)
target_sources(xervo_server PRIVATE "${xervo_ui_cpp}")
