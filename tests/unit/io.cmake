# io/: file formats (no Vulkan needed, but tests still run under the common environment).
foreach(t safetensors torch pt_writer zip_pickle)
  add_executable(test_${t} ${CMAKE_CURRENT_LIST_DIR}/test_${t}.c)
  target_link_libraries(test_${t} PRIVATE vkt_io vkt_base vkt_testkit m PkgConfig::ZLIB)
  vkt_add_test(NAME unit.io.${t} LABEL unit COMMAND test_${t})
endforeach()

# .pt files written by vktrain, loaded by the system PyTorch and the webui's safety check
# (skipped, exit 77, where /usr/bin/python3 has no torch).
vkt_add_test(NAME unit.io.pt_torch_load LABEL unit COMMAND sh
  ${PROJECT_SOURCE_DIR}/tests/reference/run_check_pt_load.sh $<TARGET_FILE:test_pt_writer>
  ${CMAKE_BINARY_DIR}/test-tmp/pt_torch_load)
set_tests_properties(unit.io.pt_torch_load PROPERTIES SKIP_RETURN_CODE 77)
