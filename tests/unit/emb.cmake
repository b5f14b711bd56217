# Textual-inversion embedding files (io/embedding_*, train/embedding_names): fixtures written by
# torch / the webui's image code (tests/reference/make_embedding_fixtures.py), round trips,
# checksum vectors, hostile files, folder loading.
add_executable(test_embedding ${CMAKE_CURRENT_LIST_DIR}/test_embedding.c)
target_link_libraries(test_embedding PRIVATE vkt_train vkt_io vkt_text vkt_base vkt_testkit m)
vkt_add_test(NAME unit.io.embedding LABEL unit COMMAND test_embedding)

# Files vktrain writes (library writers and `vktrain embedding create`) loaded by the system
# PyTorch and checked against the webui's loading rules (skipped, exit 77, without /usr/bin/python3
# or its torch).
vkt_add_test(NAME unit.io.embedding_torch LABEL unit COMMAND sh
  ${PROJECT_SOURCE_DIR}/tests/reference/run_check_embedding_files.sh $<TARGET_FILE:test_embedding>
  $<TARGET_FILE:vktrain> ${CMAKE_BINARY_DIR}/test-tmp/embedding_torch)
set_tests_properties(unit.io.embedding_torch PROPERTIES SKIP_RETURN_CODE 77)

# The CLI: embedding create (exit codes, overwrite, name cleaning) and tokenize --embeddings DIR.
vkt_add_test(NAME e2e.cli.embedding LABEL e2e COMMAND bash ${PROJECT_SOURCE_DIR}/tests/e2e/embedding.sh
             $<TARGET_FILE:vktrain> ${CMAKE_BINARY_DIR}/test-tmp/cli_embedding ${PROJECT_SOURCE_DIR})
