# e2e.sample.tiny: `vktrain sample` on the tiny model (2 steps, 64x64): reproducible bytes, batch
# naming and seeds, every sampler, the parameters chunk read back with the webui's syntax.
vkt_add_test(NAME e2e.sample.tiny LABEL e2e
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/sample.sh $<TARGET_FILE:vktrain> $<TARGET_FILE:test_sampler>
                     ${CMAKE_BINARY_DIR}/test-tmp/sample)
