# cmake -P web_npm.cmake with NAME SRC WORK OUT NPM CACHE STAMP (see VoloWeb.cmake).
# Copies the npm project SRC to WORK (without node_modules), runs `npm ci` there when the lock
# file changed since the last one, then `npm run build` with VOLO_WEB_OUT=OUT.
file(MAKE_DIRECTORY ${WORK})
file(COPY ${SRC}/ DESTINATION ${WORK}
     PATTERN node_modules EXCLUDE
     PATTERN dist EXCLUDE)
file(SHA256 ${SRC}/package-lock.json lock_hash)
set(lock_stamp ${WORK}/node_modules/.volo-lock-sha256)
set(have "")
if(EXISTS ${lock_stamp})
  file(READ ${lock_stamp} have)
endif()
if(NOT have STREQUAL lock_hash)
  message(STATUS "${NAME}: npm ci (packages pinned by ${SRC}/package-lock.json)")
  execute_process(
    COMMAND ${NPM} ci --no-audit --no-fund --prefer-offline --cache ${CACHE}
    WORKING_DIRECTORY ${WORK}
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR
      "volo: `npm ci` failed for the ${NAME} web frontend (in ${WORK}). The build needs the "
      "npm registry (or a mirror set with npm_config_registry) once per build directory to "
      "fetch the pinned packages; volo is not built without its ${NAME}.")
  endif()
  file(WRITE ${lock_stamp} ${lock_hash})
endif()
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env VOLO_WEB_OUT=${OUT} ${NPM} run --silent build
  WORKING_DIRECTORY ${WORK}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "volo: building the ${NAME} web frontend failed (npm run build in ${WORK})")
endif()
string(TIMESTAMP now "%s")
file(WRITE ${STAMP} "${now}\n")
