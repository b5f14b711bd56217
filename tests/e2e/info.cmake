# e2e.info.*: `vktrain info` on every kind of file, and on other writers' output (torch.save,
# the safetensors library's layout; skipped without /usr/bin/python3 + torch).
vkt_add_test(NAME e2e.info.files LABEL e2e
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/info.sh $<TARGET_FILE:vktrain> $<TARGET_FILE:test_model_file>
                     ${CMAKE_BINARY_DIR}/test-tmp/info ${PROJECT_SOURCE_DIR})
vkt_add_test(NAME e2e.info.torch_writers LABEL e2e
             COMMAND sh ${PROJECT_SOURCE_DIR}/tests/reference/run_check_info_torch.sh $<TARGET_FILE:vktrain>
                     ${CMAKE_BINARY_DIR}/test-tmp/info_torch)
set_tests_properties(e2e.info.torch_writers PROPERTIES SKIP_RETURN_CODE 77)
