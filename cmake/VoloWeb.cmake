# Web frontends built with npm and embedded in a binary.
#
#   volo_npm_build(NAME SOURCE_DIR OUTPUT_DIR [SOURCES ...])
#     Builds an npm project (package.json + committed package-lock.json, `npm run build` writing
#     into $VOLO_WEB_OUT) in a copy under the build tree: `npm ci` runs when the lock file
#     changes, the build when any source does. Defines the target <NAME>_web and sets
#     <NAME>_WEB_STAMP (in the caller's scope) to a file that changes with every build.
#     Without npm, or when `npm ci` cannot reach the registry, the build stops with a message
#     saying so: a volo without its dashboard is never built silently.
#
#   volo_embed_dir(TARGET DIR PREFIX NAME [DEPENDS ...])
#     Embeds every file under DIR (at build time) into TARGET as volo::web assets served under
#     PREFIX ("/" or "/playground/"): src/web/web.h. The files go in with .incbin, each with its
#     gzip form when that is smaller and a SHA-256 ETag. TARGET must be an executable or an
#     OBJECT library (the generated file registers its table from a static initializer, which a
#     static library would drop), and link volo_web.

set(VOLO_WEB_CMAKE_DIR ${CMAKE_CURRENT_LIST_DIR})

function(volo_npm_build)
  cmake_parse_arguments(ARG "" "NAME;SOURCE_DIR;OUTPUT_DIR" "SOURCES" ${ARGN})
  find_program(VOLO_NPM npm)
  if(NOT VOLO_NPM)
    message(FATAL_ERROR "volo: building the web frontend '${ARG_NAME}' needs npm (Node.js 18 or "
                        "newer); run scripts/install-deps or install nodejs and npm")
  endif()
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${ARG_SOURCE_DIR}/src/*)
  set(work ${CMAKE_BINARY_DIR}/web/${ARG_NAME})
  set(stamp ${work}/build.stamp)
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DNAME=${ARG_NAME} -DSRC=${ARG_SOURCE_DIR} -DWORK=${work}/project
            -DOUT=${ARG_OUTPUT_DIR} -DNPM=${VOLO_NPM} -DCACHE=${CMAKE_BINARY_DIR}/web/npm-cache
            -DSTAMP=${stamp} -P ${VOLO_WEB_CMAKE_DIR}/web_npm.cmake
    DEPENDS ${srcs} ${ARG_SOURCES} ${ARG_SOURCE_DIR}/package.json
            ${ARG_SOURCE_DIR}/package-lock.json ${VOLO_WEB_CMAKE_DIR}/web_npm.cmake
    COMMENT "Building the ${ARG_NAME} web frontend (npm)"
    VERBATIM)
  add_custom_target(${ARG_NAME}_web DEPENDS ${stamp})
  set(${ARG_NAME}_WEB_STAMP ${stamp} PARENT_SCOPE)
endfunction()

function(volo_embed_dir)
  cmake_parse_arguments(ARG "" "TARGET;DIR;PREFIX;NAME" "DEPENDS" ${ARGN})
  set(gen ${CMAKE_BINARY_DIR}/web/embed_${ARG_NAME}.cc)
  add_custom_command(
    OUTPUT ${gen}
    COMMAND ${CMAKE_COMMAND} -DNAME=${ARG_NAME} -DDIR=${ARG_DIR} -DPREFIX=${ARG_PREFIX}
            -DOUT=${gen} -DGZ=${CMAKE_BINARY_DIR}/web/gz_${ARG_NAME}
            -P ${VOLO_WEB_CMAKE_DIR}/web_embed.cmake
    DEPENDS ${ARG_DEPENDS} ${VOLO_WEB_CMAKE_DIR}/web_embed.cmake
    COMMENT "Embedding ${ARG_DIR} under ${ARG_PREFIX}"
    VERBATIM)
  target_sources(${ARG_TARGET} PRIVATE ${gen})
  target_link_libraries(${ARG_TARGET} PRIVATE volo_web)
endfunction()
