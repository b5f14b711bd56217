add_executable(test_gen ${CMAKE_CURRENT_LIST_DIR}/test_gen.c)
target_link_libraries(test_gen PRIVATE vkt_models vkt_testkit)
vkt_add_test(NAME unit.models.generator LABEL unit COMMAND test_gen)
