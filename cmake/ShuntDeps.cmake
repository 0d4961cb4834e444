# Every dependency comes from a Debian 12 package; a missing one fails at
# configure time naming the package to install (scripts/deps.sh installs all).
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config")
endif()

function(shunt_require_pkg var module debpkg)
  pkg_check_modules(${var} QUIET IMPORTED_TARGET ${module})
  if(NOT ${var}_FOUND)
    message(FATAL_ERROR "${module} not found: apt-get install ${debpkg}")
  endif()
  message(STATUS "found ${module} ${${var}_VERSION}")
endfunction()

shunt_require_pkg(LIBBPF libbpf libbpf-dev)
shunt_require_pkg(LIBELF libelf libelf-dev)
shunt_require_pkg(ZLIB zlib zlib1g-dev)
shunt_require_pkg(LIBUV libuv libuv1-dev)
shunt_require_pkg(JANSSON jansson libjansson-dev)
# shunt-cni asks the Kubernetes API server for the pod (TLS verified by OpenSSL).
shunt_require_pkg(LIBCURL libcurl libcurl4-openssl-dev)

find_program(SHUNT_CLANG NAMES clang clang-14)
if(NOT SHUNT_CLANG)
  message(FATAL_ERROR "clang not found (BPF target): apt-get install clang llvm")
endif()
find_program(SHUNT_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin)
if(NOT SHUNT_BPFTOOL)
  message(FATAL_ERROR "bpftool not found: apt-get install bpftool")
endif()

# llhttp 8.1 ships as C sources (Debian node-llhttp); build them here in strict mode.
set(LLHTTP_SRC_DIR /usr/share/llhttp CACHE PATH "llhttp C sources")
set(LLHTTP_INCLUDE_DIR /usr/share/include/llhttp CACHE PATH "llhttp header dir")
if(NOT EXISTS ${LLHTTP_SRC_DIR}/llhttp.c OR NOT EXISTS ${LLHTTP_INCLUDE_DIR}/llhttp.h)
  message(FATAL_ERROR "llhttp sources not found in ${LLHTTP_SRC_DIR}: apt-get install node-llhttp")
endif()
add_library(llhttp STATIC ${LLHTTP_SRC_DIR}/llhttp.c ${LLHTTP_SRC_DIR}/api.c ${LLHTTP_SRC_DIR}/http.c)
target_include_directories(llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
target_compile_definitions(llhttp PUBLIC LLHTTP_STRICT_MODE=1)
target_compile_options(llhttp PRIVATE -w)
set_target_properties(llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON)
