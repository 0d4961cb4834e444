# BPF build pipeline: foo.bpf.c -> foo.bpf.o -> foo.skel.h, all in the build dir.
# vmlinux.h is generated from the running kernel's BTF (CO-RE relocations make
# the objects portable across kernels that have BTF).
set(SHUNT_BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpf-gen)
file(MAKE_DIRECTORY ${SHUNT_BPF_GEN_DIR})
set(SHUNT_VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "kernel BTF used to generate vmlinux.h")
if(NOT EXISTS ${SHUNT_VMLINUX_BTF})
  message(FATAL_ERROR "${SHUNT_VMLINUX_BTF} missing: shunt needs a kernel built with CONFIG_DEBUG_INFO_BTF=y")
endif()
add_custom_command(OUTPUT ${SHUNT_BPF_GEN_DIR}/vmlinux.h
  COMMAND ${SHUNT_BPFTOOL} btf dump file ${SHUNT_VMLINUX_BTF} format c > ${SHUNT_BPF_GEN_DIR}/vmlinux.h.tmp
  COMMAND ${CMAKE_COMMAND} -E rename ${SHUNT_BPF_GEN_DIR}/vmlinux.h.tmp ${SHUNT_BPF_GEN_DIR}/vmlinux.h
  COMMENT "generating vmlinux.h from kernel BTF")
add_custom_target(shunt_vmlinux DEPENDS ${SHUNT_BPF_GEN_DIR}/vmlinux.h)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|amd64")
  set(SHUNT_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(SHUNT_BPF_ARCH arm64)
else()
  set(SHUNT_BPF_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

# shunt_bpf_skeleton(<name> <source.bpf.c> [DEPENDS headers...])
# Produces interface target shunt_bpf_<name> carrying the include dir of <name>.skel.h.
function(shunt_bpf_skeleton name src)
  cmake_parse_arguments(B "" "" "DEPENDS" ${ARGN})
  get_filename_component(src_abs ${src} ABSOLUTE)
  set(obj ${SHUNT_BPF_GEN_DIR}/${name}.bpf.o)
  set(skel ${SHUNT_BPF_GEN_DIR}/${name}.skel.h)
  add_custom_command(OUTPUT ${obj}
    COMMAND ${SHUNT_CLANG} -target bpf -g -O2 -D__TARGET_ARCH_${SHUNT_BPF_ARCH}
            -Wall -Werror -Wno-unused-function
            -I${SHUNT_BPF_GEN_DIR} -I${CMAKE_SOURCE_DIR}/bpf
            -c ${src_abs} -o ${obj}
    DEPENDS ${src_abs} ${B_DEPENDS} shunt_vmlinux ${SHUNT_BPF_GEN_DIR}/vmlinux.h
    COMMENT "BPF ${name}.bpf.c -> ${name}.bpf.o")
  add_custom_command(OUTPUT ${skel}
    COMMAND ${SHUNT_BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h")
  add_custom_target(shunt_bpf_${name}_gen DEPENDS ${skel})
  add_library(shunt_bpf_${name} INTERFACE)
  add_dependencies(shunt_bpf_${name} shunt_bpf_${name}_gen)
  target_include_directories(shunt_bpf_${name} INTERFACE ${SHUNT_BPF_GEN_DIR} ${CMAKE_SOURCE_DIR}/bpf)
  target_link_libraries(shunt_bpf_${name} INTERFACE PkgConfig::LIBBPF PkgConfig::LIBELF PkgConfig::ZLIB)
endfunction()
