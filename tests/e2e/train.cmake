# e2e.train.*: textual-inversion training on the tiny model (lavapipe, validation on): outputs,
# resume equivalence, interruption, bad inputs, and the demo.
vkt_add_test(NAME e2e.train.ti LABEL e2e TIMEOUT 900
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/train_ti.sh $<TARGET_FILE:vktrain> ${CMAKE_BINARY_DIR}/test-tmp/train_ti)
