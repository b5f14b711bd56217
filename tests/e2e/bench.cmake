# e2e.bench.*: `vktrain bench step` on the tiny model (runs and reports; timings never asserted).
vkt_add_test(NAME e2e.bench.step LABEL e2e
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/bench_step.sh $<TARGET_FILE:vktrain> ${CMAKE_BINARY_DIR}/test-tmp/bench_step)
