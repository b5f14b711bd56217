# text/: CLIP tokenizer and the webui's prompt handling (no Vulkan needed).
add_executable(test_tokenizer ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer.c)
target_link_libraries(test_tokenizer PRIVATE vkt_text vkt_base vkt_testkit PkgConfig::ZLIB)
vkt_add_test(NAME unit.text.tokenizer LABEL unit COMMAND test_tokenizer)

add_executable(test_prompt ${CMAKE_CURRENT_LIST_DIR}/test_prompt.c)
target_link_libraries(test_prompt PRIVATE vkt_text vkt_base vkt_testkit)
vkt_add_test(NAME unit.text.prompt LABEL unit COMMAND test_prompt)

# Every case of tests/golden/tokenizer_{visible,reference}.json through the library, and through
# `vktrain tokenize --json`.
add_executable(test_text_golden ${CMAKE_CURRENT_LIST_DIR}/test_text_golden.c)
target_link_libraries(test_text_golden PRIVATE vkt_text vkt_base vkt_testkit PkgConfig::CJSON)
vkt_add_test(NAME golden.text.tokenizer LABEL golden COMMAND test_text_golden)
vkt_add_test(NAME e2e.cli.tokenize LABEL e2e COMMAND test_text_golden --cli $<TARGET_FILE:vktrain>)

add_executable(test_template ${CMAKE_CURRENT_LIST_DIR}/test_template.c)
target_link_libraries(test_template PRIVATE vkt_text vkt_base vkt_testkit)
vkt_add_test(NAME unit.text.template LABEL unit COMMAND test_template)
