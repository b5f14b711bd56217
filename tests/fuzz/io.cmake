# Fuzz targets for io/ parsers: safetensors, zip (+ the whole torch path), the restricted
# unpickler, model files (detection and dims over safetensors bytes). ctest (label fuzz) replays tests/fuzz/<parser>/corpus/ plus deterministic mutations
# of each file; with -DVKT_FUZZ=ON (clang) they are libFuzzer binaries, e.g.
#   ./build/tests/fuzz_pickle -max_total_time=600 tests/fuzz/pickle/corpus
foreach(p safetensors zip pickle model)
  add_executable(fuzz_${p} ${CMAKE_CURRENT_LIST_DIR}/${p}/fuzz_${p}.c)
  target_include_directories(fuzz_${p} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(fuzz_${p} PRIVATE vkt_io vkt_base m)
  if(VKT_FUZZ)
    target_compile_definitions(fuzz_${p} PRIVATE VKT_LIBFUZZER=1)
    target_compile_options(fuzz_${p} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${p} PRIVATE -fsanitize=fuzzer)
    vkt_add_test(NAME fuzz.${p} LABEL fuzz COMMAND fuzz_${p} -runs=0 ${CMAKE_CURRENT_LIST_DIR}/${p}/corpus)
  else()
    vkt_add_test(NAME fuzz.${p} LABEL fuzz COMMAND fuzz_${p} ${CMAKE_CURRENT_LIST_DIR}/${p}/corpus)
  endif()
endforeach()
