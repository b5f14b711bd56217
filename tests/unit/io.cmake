# io/: file formats (no Vulkan needed, but tests still run under the common environment).
foreach(t safetensors)
  add_executable(test_${t} ${CMAKE_CURRENT_LIST_DIR}/test_${t}.c)
  target_link_libraries(test_${t} PRIVATE vkt_io vkt_base vkt_testkit m)
  vkt_add_test(NAME unit.io.${t} LABEL unit COMMAND test_${t})
endforeach()
