# tm_add_plugin(NAME SOURCES ... [OUTPUT_DIRECTORY DIR])
# Builds a tunnelmgr plugin the way the host expects: a MODULE named NAME.so (no "lib" prefix),
# hidden visibility, every symbol resolved at link time (--no-undefined), and only
# tm_plugin_entry exported (a linker version script). Shipped with the plugin API, so
# third-party plugins get the same rules as the stock ones.
function(tm_add_plugin name)
  set(_map "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/tunnelmgr-plugin.map")
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "tm_add_plugin(${name}): give its SOURCES")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "${name}"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON
    LINK_DEPENDS "${_map}")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()
  target_link_libraries(${name} PRIVATE tunnelmgr::plugin-api)
  target_link_options(${name} PRIVATE "LINKER:--no-undefined" "LINKER:--version-script=${_map}")
endfunction()
