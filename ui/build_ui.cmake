# cmake -DUI=<ui folder> -DOUT_DIR=<build>/ui -DNODE=<node or empty> -P build_ui.cmake
# Run by the build (dashboard.cmake): type-checks and builds the dashboard with Vite, then embeds the
# result (embed_assets.cmake). When node or ui/node_modules is missing it embeds no files and says
# why (the build goes on; the server's / page shows the reason). A type or build error fails the build.
cmake_minimum_required(VERSION 3.25)
set(cpp "${OUT_DIR}/dashboard_assets.cpp")
if(NOT NODE)
  find_program(NODE node)
endif()
if(NOT NODE)
  set(reason "node was not found when this xervo was built")
elseif(NOT EXISTS "${UI}/node_modules/vite/bin/vite.js" OR NOT EXISTS "${UI}/node_modules/typescript/bin/tsc")
  set(reason "ui/node_modules was missing when this xervo was built (scripts/bootstrap runs npm ci in ui/)")
endif()
if(reason)
  message(WARNING "dashboard not built: ${reason}; / will say so. Run scripts/bootstrap, then build again.")
  execute_process(COMMAND "${CMAKE_COMMAND}" "-DDIST=" "-DOUT=${cpp}.new" "-DREASON=${reason}" -P
                          "${UI}/embed_assets.cmake" COMMAND_ERROR_IS_FATAL ANY)
else()
  execute_process(COMMAND "${NODE}" "${UI}/node_modules/typescript/bin/tsc" --noEmit -p "${UI}"
                  WORKING_DIRECTORY "${UI}" COMMAND_ERROR_IS_FATAL ANY)
  execute_process(COMMAND "${NODE}" "${UI}/node_modules/vite/bin/vite.js" build --logLevel warn
                          --outDir "${OUT_DIR}/dist" --emptyOutDir
                  WORKING_DIRECTORY "${UI}" COMMAND_ERROR_IS_FATAL ANY)
  execute_process(COMMAND "${CMAKE_COMMAND}" "-DDIST=${OUT_DIR}/dist" "-DOUT=${cpp}.new" -P
                          "${UI}/embed_assets.cmake" COMMAND_ERROR_IS_FATAL ANY)
endif()
# An unchanged result leaves the source as it is: nothing recompiles.
file(COPY_FILE "${cpp}.new" "${cpp}" ONLY_IF_DIFFERENT)
file(REMOVE "${cpp}.new")
