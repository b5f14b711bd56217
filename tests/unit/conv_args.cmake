# unit.conv.args: argument and shape checking of the conv2d, upsample and concat/slice wrappers
# (the GPU results themselves are unit.op.conv2d, unit.op.upsample, unit.op.concat).
add_executable(test_conv_args ${CMAKE_CURRENT_LIST_DIR}/test_conv_args.c)
target_link_libraries(test_conv_args PRIVATE vkt_nn vkt_testkit)
vkt_add_test(NAME unit.conv.args LABEL unit COMMAND test_conv_args)
