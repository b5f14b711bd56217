# Fuzz target for io/image (PNG text chunks, image decoders). ctest (label fuzz) replays
# tests/fuzz/png/corpus/ plus deterministic mutations; with -DVKT_FUZZ=ON (clang) it is a
# libFuzzer binary: ./build/fuzz_png -max_total_time=600 tests/fuzz/png/corpus
add_executable(fuzz_png ${CMAKE_CURRENT_LIST_DIR}/png/fuzz_png.c)
target_include_directories(fuzz_png PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(fuzz_png PRIVATE vkt_io vkt_base PkgConfig::ZLIB m)
if(VKT_FUZZ)
  target_compile_definitions(fuzz_png PRIVATE VKT_LIBFUZZER=1)
  target_compile_options(fuzz_png PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_png PRIVATE -fsanitize=fuzzer)
  vkt_add_test(NAME fuzz.png LABEL fuzz COMMAND fuzz_png -runs=0 ${CMAKE_CURRENT_LIST_DIR}/png/corpus)
else()
  vkt_add_test(NAME fuzz.png LABEL fuzz COMMAND fuzz_png ${CMAKE_CURRENT_LIST_DIR}/png/corpus)
endif()
