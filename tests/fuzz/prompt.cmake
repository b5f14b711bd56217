# Fuzz target for the prompt parser + CLIP tokenizer. With -DVKT_FUZZ=ON (CC=clang) it is a
# libFuzzer binary (run: ./build/tests/fuzz_prompt tests/fuzz/prompt); otherwise a plain main
# replays every file of tests/fuzz/prompt/ (ctest label fuzz).
add_executable(fuzz_prompt ${CMAKE_CURRENT_LIST_DIR}/fuzz_prompt.c)
target_link_libraries(fuzz_prompt PRIVATE vkt_text vkt_base)
if(VKT_FUZZ)
  target_compile_definitions(fuzz_prompt PRIVATE VKT_LIBFUZZER)
  target_compile_options(fuzz_prompt PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_prompt PRIVATE -fsanitize=fuzzer)
  vkt_add_test(NAME fuzz.prompt LABEL fuzz COMMAND fuzz_prompt -runs=0 ${CMAKE_CURRENT_LIST_DIR}/prompt)
else()
  vkt_add_test(NAME fuzz.prompt LABEL fuzz COMMAND fuzz_prompt ${CMAKE_CURRENT_LIST_DIR}/prompt)
endif()
