# TensorBoard event files (src/io/tfevents.c): written, then parsed back in C, and by the
# stdlib-only tests/reference/read_tfevents.py under plain python3 (skipped, exit 77, without one).
add_executable(test_tfevents ${CMAKE_CURRENT_LIST_DIR}/test_tfevents.c)
target_link_libraries(test_tfevents PRIVATE vkt_io vkt_base vkt_testkit PkgConfig::CJSON PkgConfig::ZLIB m)
vkt_add_test(NAME unit.io.tfevents LABEL unit COMMAND test_tfevents)
vkt_add_test(NAME unit.io.tfevents_python LABEL unit COMMAND test_tfevents --python)
set_tests_properties(unit.io.tfevents_python PROPERTIES SKIP_RETURN_CODE 77)
