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
# SIMLAB_FUZZ: libFuzzer needs Clang. Every simlab target is compiled with coverage for the fuzzer
# (fuzzer-no-link) and ASan + UBSan, so that a bad input anywhere in simlab's code is a finding;
# the fuzz executables alone link libFuzzer itself (tests/fuzz).
if(SIMLAB_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SIMLAB_FUZZ needs Clang (libFuzzer), not ${CMAKE_CXX_COMPILER_ID}: configure "
                        "with -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 "
                        "(tools/test.sh --fuzz does)")
  endif()
  target_compile_options(simlab_build_flags INTERFACE -fsanitize=fuzzer-no-link,address,undefined
                                                      -fno-sanitize-recover=undefined
                                                      -fno-omit-frame-pointer)
  target_link_options(simlab_build_flags INTERFACE -fsanitize=address,undefined)
endif()
# SIMLAB_SANITIZE_THREAD: ThreadSanitizer (GCC or Clang); it cannot share a process with ASan.
if(SIMLAB_SANITIZE_THREAD)
  if(SIMLAB_SANITIZE OR SIMLAB_FUZZ)
    message(FATAL_ERROR "SIMLAB_SANITIZE_THREAD cannot be combined with SIMLAB_SANITIZE or SIMLAB_FUZZ "
                        "(ThreadSanitizer and AddressSanitizer exclude each other)")
  endif()
  target_compile_options(simlab_build_flags INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(simlab_build_flags INTERFACE -fsanitize=thread)
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
