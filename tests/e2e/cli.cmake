# e2e.cli.*: the vktrain command as a user runs it (exit codes, --help, --json shapes).
vkt_add_test(NAME e2e.cli.basics LABEL e2e
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cli_basics.sh $<TARGET_FILE:vktrain>)
vkt_add_test(NAME e2e.cli.make_tiny_model LABEL e2e
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/make_tiny_model.sh $<TARGET_FILE:vktrain> ${CMAKE_BINARY_DIR}/test-tmp/tiny)
add_executable(mkst ${CMAKE_CURRENT_LIST_DIR}/mkst.c)
target_link_libraries(mkst PRIVATE vkt_io)
vkt_add_test(NAME e2e.cli.compare LABEL e2e
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/compare.sh $<TARGET_FILE:vktrain> $<TARGET_FILE:mkst> ${CMAKE_BINARY_DIR}/test-tmp/compare)
