# e2e.cli.hypernetwork: `vktrain hypernetwork create` as a user runs it.
vkt_add_test(NAME e2e.cli.hypernetwork LABEL e2e
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/hypernetwork.sh $<TARGET_FILE:vktrain>
                     ${CMAKE_BINARY_DIR}/test-tmp/e2e_hypernetwork)
# e2e.sample.hypernetwork: `vktrain sample --hypernetwork` on the tiny model.
vkt_add_test(NAME e2e.sample.hypernetwork LABEL e2e
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/sample_hn.sh $<TARGET_FILE:vktrain> $<TARGET_FILE:test_sampler>
                     ${PROJECT_SOURCE_DIR}/tests/golden ${CMAKE_BINARY_DIR}/test-tmp/sample_hn)
