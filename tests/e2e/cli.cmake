# e2e.cli.*: the vktrain command as a user runs it (exit codes, --help, --json shapes).
vkt_add_test(NAME e2e.cli.basics LABEL e2e
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cli_basics.sh $<TARGET_FILE:vktrain>)
