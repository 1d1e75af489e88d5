# Turns a SPIR-V file into a C++ header: `inline constexpr std::uint32_t NAME[] = {...};`
# Usage: cmake -DINPUT=x.spv -DOUTPUT=x.h -DNAME=kX -P embed_spirv.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" length)
set(words "")
set(i 0)
while(i LESS length)
  # SPIR-V is little-endian 32-bit words: bytes b0 b1 b2 b3 -> 0xb3b2b1b0
  string(SUBSTRING "${hex}" ${i} 8 w)
  string(SUBSTRING "${w}" 0 2 b0)
  string(SUBSTRING "${w}" 2 2 b1)
  string(SUBSTRING "${w}" 4 2 b2)
  string(SUBSTRING "${w}" 6 2 b3)
  string(APPEND words "0x${b3}${b2}${b1}${b0}u,")
  math(EXPR i "${i} + 8")
endwhile()
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by embed_spirv.cmake: do not edit.\n#pragma once\n#include <cstdint>\ninline constexpr std::uint32_t ${NAME}[] = {${words}};\n")
