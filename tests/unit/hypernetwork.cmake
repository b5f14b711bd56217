# models/hypernetwork: webui hypernetwork files, the module MLP on the GPU (vs torch goldens and a
# double reference), the UNet hook (vs the SpatialTransformer goldens) and AdamW training.
add_executable(test_hypernetwork ${CMAKE_CURRENT_LIST_DIR}/test_hypernetwork.c ${CMAKE_CURRENT_LIST_DIR}/tiny_fixture.c)
target_link_libraries(test_hypernetwork PRIVATE vkt_train vkt_models vkt_testkit)
vkt_add_test(NAME unit.hn.files LABEL unit COMMAND test_hypernetwork files)
vkt_add_test(NAME unit.hn.module LABEL unit COMMAND test_hypernetwork module)
vkt_add_test(NAME golden.hn.st LABEL golden COMMAND test_hypernetwork st)
vkt_add_test(NAME unit.hn.train LABEL unit COMMAND test_hypernetwork train)

# Files vktrain writes, loaded by the system PyTorch with the webui's rules (skipped, exit 77,
# where /usr/bin/python3 has no torch).
vkt_add_test(NAME unit.hn.torch_load LABEL unit COMMAND sh
  ${PROJECT_SOURCE_DIR}/tests/reference/run_check_hn_load.sh $<TARGET_FILE:test_hypernetwork>
  ${CMAKE_BINARY_DIR}/test-tmp/hn_torch_load)
set_tests_properties(unit.hn.torch_load PROPERTIES SKIP_RETURN_CODE 77)
