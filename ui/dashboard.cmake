# The web dashboard: ui/ (TypeScript, Preact, uPlot) type-checked and built by Vite into
# <build>/ui/dist, then embedded in xervo_server as generated C++ (embed_assets.cmake). Rebuilt when a
# file under ui/ changes. scripts/bootstrap installs node/npm and runs `npm ci` in ui/; without them
# the build still succeeds and the server's / page says the dashboard was not built.
# Included from src/server/CMakeLists.txt; adds to the target xervo_server.
set(xervo_ui_dir "${PROJECT_SOURCE_DIR}/ui")
set(xervo_ui_out "${CMAKE_BINARY_DIR}/ui")
set(xervo_ui_cpp "${xervo_ui_out}/dashboard_assets.cpp")
file(MAKE_DIRECTORY "${xervo_ui_out}")
find_program(XERVO_UI_NODE node)
if(XERVO_UI_NODE AND EXISTS "${xervo_ui_dir}/node_modules/vite/bin/vite.js"
   AND EXISTS "${xervo_ui_dir}/node_modules/typescript/bin/tsc")
  file(GLOB_RECURSE xervo_ui_sources CONFIGURE_DEPENDS "${xervo_ui_dir}/src/*" "${xervo_ui_dir}/public/*")
  list(APPEND xervo_ui_sources "${xervo_ui_dir}/index.html" "${xervo_ui_dir}/package.json"
       "${xervo_ui_dir}/package-lock.json" "${xervo_ui_dir}/vite.config.ts" "${xervo_ui_dir}/tsconfig.json"
       "${xervo_ui_dir}/node_modules/.package-lock.json")
  add_custom_command(
    OUTPUT "${xervo_ui_cpp}"
    BYPRODUCTS "${xervo_ui_out}/dist/index.html"
    COMMAND "${XERVO_UI_NODE}" "${xervo_ui_dir}/node_modules/typescript/bin/tsc" --noEmit -p "${xervo_ui_dir}"
    COMMAND "${XERVO_UI_NODE}" "${xervo_ui_dir}/node_modules/vite/bin/vite.js" build --logLevel warn
            --outDir "${xervo_ui_out}/dist" --emptyOutDir
    COMMAND "${CMAKE_COMMAND}" "-DDIST=${xervo_ui_out}/dist" "-DOUT=${xervo_ui_cpp}" -P
            "${xervo_ui_dir}/embed_assets.cmake"
    DEPENDS ${xervo_ui_sources} "${xervo_ui_dir}/embed_assets.cmake"
    WORKING_DIRECTORY "${xervo_ui_dir}"
    COMMENT "Building the dashboard (tsc, vite build)"
    VERBATIM)
  set(XERVO_UI_BUILT ON CACHE INTERNAL "the dashboard is built from ui/")
else()
  if(NOT XERVO_UI_NODE)
    set(xervo_ui_reason "node was not found when this xervo was built")
  else()
    set(xervo_ui_reason "ui/node_modules was missing when this xervo was built (npm ci in ui/ was not run)")
  endif()
  message(WARNING "dashboard not built: ${xervo_ui_reason}. Run scripts/bootstrap (it installs node/npm and "
                  "runs npm ci in ui/), then configure again; / will say the dashboard is missing.")
  add_custom_command(
    OUTPUT "${xervo_ui_cpp}"
    COMMAND "${CMAKE_COMMAND}" "-DDIST=" "-DOUT=${xervo_ui_cpp}" "-DREASON=${xervo_ui_reason}" -P
            "${xervo_ui_dir}/embed_assets.cmake"
    DEPENDS "${xervo_ui_dir}/embed_assets.cmake"
    VERBATIM)
  set(XERVO_UI_BUILT OFF CACHE INTERNAL "the dashboard is built from ui/")
endif()
target_sources(xervo_server PRIVATE "${xervo_ui_cpp}")
