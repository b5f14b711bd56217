add_executable(test_base ${CMAKE_CURRENT_LIST_DIR}/test_base.c)
target_link_libraries(test_base PRIVATE vkt_base vkt_testkit)
vkt_add_test(NAME unit.base LABEL unit COMMAND test_base)
