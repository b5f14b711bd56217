# text/: CLIP tokenizer and the webui's prompt handling (no Vulkan needed).
add_executable(test_tokenizer ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer.c)
target_link_libraries(test_tokenizer PRIVATE vkt_text vkt_base vkt_testkit PkgConfig::ZLIB)
vkt_add_test(NAME unit.text.tokenizer LABEL unit COMMAND test_tokenizer)

add_executable(test_prompt ${CMAKE_CURRENT_LIST_DIR}/test_prompt.c)
target_link_libraries(test_prompt PRIVATE vkt_text vkt_base vkt_testkit)
vkt_add_test(NAME unit.text.prompt LABEL unit COMMAND test_prompt)
