# e2e.cli.hypernetwork: `vktrain hypernetwork create` as a user runs it.
vkt_add_test(NAME e2e.cli.hypernetwork LABEL e2e
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/hypernetwork.sh $<TARGET_FILE:vktrain>
                     ${CMAKE_BINARY_DIR}/test-tmp/e2e_hypernetwork)
