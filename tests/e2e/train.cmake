# e2e.train.*: textual-inversion training on the tiny model (lavapipe, validation on): outputs,
# resume equivalence, interruption, bad inputs, and the demo.
vkt_add_test(NAME e2e.train.ti LABEL e2e TIMEOUT 900
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/train_ti.sh $<TARGET_FILE:vktrain> ${CMAKE_BINARY_DIR}/test-tmp/train_ti)
# e2e.train.hn: hypernetwork training on the tiny model (outputs, untouched unused size, eval-loss
# decrease, resume equality with dropout, webui loading rules when torch is there, bad inputs).
vkt_add_test(NAME e2e.train.hn LABEL e2e TIMEOUT 900
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/train_hn.sh $<TARGET_FILE:vktrain> ${CMAKE_BINARY_DIR}/test-tmp/train_hn
                     ${PROJECT_SOURCE_DIR}/tests/reference)
# e2e.train.options: every `embedding train` option changes what it should; bad values fail first.
vkt_add_test(NAME e2e.train.options LABEL e2e TIMEOUT 600
             COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/train_options.sh $<TARGET_FILE:vktrain> ${CMAKE_BINARY_DIR}/test-tmp/train_options)
