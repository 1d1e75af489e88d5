# Helpers shared by every simlab module: compile flags, sanitizers, and one-line library targets.

add_library(simlab_build_flags INTERFACE)
target_compile_options(simlab_build_flags INTERFACE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
if(SIMLAB_WARNINGS_AS_ERRORS)
  target_compile_options(simlab_build_flags INTERFACE -Werror)
endif()
if(SIMLAB_SANITIZE)
  target_compile_options(simlab_build_flags INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                                      -fno-sanitize-recover=undefined)
  target_link_options(simlab_build_flags INTERFACE -fsanitize=address,undefined)
endif()

# simlab_add_library(NAME ALIAS simlab::name SOURCES ... DEPS ...): a static library rooted at the
# repository (includes read "engine/core/batch.h") with the project's warning flags.
function(simlab_add_library name)
  cmake_parse_arguments(ARG "" "ALIAS" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  add_library(${ARG_ALIAS} ALIAS ${name})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE simlab_build_flags ${ARG_PRIVATE_DEPS})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()
