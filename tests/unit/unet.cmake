# models/unet: the UNet's blocks and the whole model on the tiny model vs tests/golden/ (PyTorch
# reference data from tests/reference/make_golden.py), fp32 and fp16 storage.
add_executable(test_unet ${CMAKE_CURRENT_LIST_DIR}/test_unet.c ${CMAKE_CURRENT_LIST_DIR}/tiny_fixture.c)
target_link_libraries(test_unet PRIVATE vkt_models vkt_testkit)
vkt_add_test(NAME golden.unet.resblock LABEL golden COMMAND test_unet resblock)
vkt_add_test(NAME golden.unet.st LABEL golden COMMAND test_unet st)
vkt_add_test(NAME golden.unet.eps LABEL golden COMMAND test_unet unet)
vkt_add_test(NAME unit.unet.plan LABEL unit COMMAND test_unet plan)
vkt_add_test(NAME unit.unet.load LABEL unit COMMAND test_unet load)
vkt_add_test(NAME golden.unet.context_t154 LABEL golden COMMAND test_unet context)
