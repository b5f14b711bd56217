# train/prefetch: worker-thread image loader vs sequential vkt_dataset_load (host only, no GPU).
add_executable(test_prefetch ${CMAKE_CURRENT_LIST_DIR}/test_prefetch.c)
target_link_libraries(test_prefetch PRIVATE vkt_train vkt_io vkt_base vkt_testkit m)
vkt_add_test(NAME unit.train.prefetch LABEL unit TIMEOUT 120 COMMAND test_prefetch)
