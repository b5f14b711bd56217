# io/: file formats (no Vulkan needed, but tests still run under the common environment).
foreach(t safetensors torch pt_writer zip_pickle hash)
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

# Model files: uses the models generator's key sets, so it links vkt_models (tests may).
add_executable(test_model_file ${CMAKE_CURRENT_LIST_DIR}/test_model_file.c)
target_link_libraries(test_model_file PRIVATE vkt_io vkt_models vkt_base vkt_testkit)
vkt_add_test(NAME unit.io.model_file LABEL unit COMMAND test_model_file)

# Every host allocation of the io readers/writers failing in turn (VKTRAIN_FAIL_ALLOC).
add_executable(test_io_faults ${CMAKE_CURRENT_LIST_DIR}/test_io_faults.c)
target_link_libraries(test_io_faults PRIVATE vkt_io vkt_base vkt_testkit)
vkt_add_test(NAME unit.io.faults LABEL unit COMMAND test_io_faults)
