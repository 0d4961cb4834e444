# Project-wide compile settings applied to every target we own (never to
# third-party code such as llhttp).
set(SHUNT_C_WARNINGS -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
    -Wmissing-prototypes -Wno-unused-parameter)
set(SHUNT_SANITIZE_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)

function(shunt_target_defaults target)
  target_compile_options(${target} PRIVATE ${SHUNT_C_WARNINGS})
  target_compile_definitions(${target} PRIVATE _GNU_SOURCE)
  if(SHUNT_SANITIZE)
    target_compile_options(${target} PRIVATE ${SHUNT_SANITIZE_FLAGS})
    target_link_options(${target} PRIVATE ${SHUNT_SANITIZE_FLAGS})
  endif()
endfunction()

# shunt_add_test(NAME name SOURCES a.c b.c LIBS x y LABELS unit [KERNEL])
# Builds a test executable and registers it with ctest. Tests that need a
# kernel (label kernel or e2e) exit 77 to skip; CI=true turns that into a
# failure inside the test itself (see tests/harness/).
function(shunt_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  shunt_target_defaults(${T_NAME})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS})
  # shared test helpers (check.h, testutil.h, pods.h)
  target_include_directories(${T_NAME} PRIVATE ${CMAKE_SOURCE_DIR}/tests/harness)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}"
    SKIP_RETURN_CODE 77 TIMEOUT ${T_TIMEOUT})
endfunction()
