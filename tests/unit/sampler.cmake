# models/sampler: schedules vs tests/golden/sampler_sigmas.safetensors (tests/reference/
# sampler_sigmas.py), one GPU step of each sampler vs the webui's formula on the tiny UNet, and the
# infotext parsed back with the webui's syntax. golden.sample.*: whole txt2img runs (train/txt2img,
# prompt to RGB8) vs tests/reference/sampler_ref.py in float64 torch with the same noise.
# e2e.sample.* runs `vktrain sample` on the tiny model.
add_executable(test_sampler ${CMAKE_CURRENT_LIST_DIR}/test_sampler.c ${CMAKE_CURRENT_LIST_DIR}/tiny_fixture.c)
target_link_libraries(test_sampler PRIVATE vkt_train vkt_models vkt_io vkt_testkit)
vkt_add_test(NAME unit.sampler.schedule LABEL unit COMMAND test_sampler schedule)
vkt_add_test(NAME unit.sampler.step.fp32 LABEL unit COMMAND test_sampler step f32)
vkt_add_test(NAME unit.sampler.step.fp16 LABEL unit COMMAND test_sampler step f16)
vkt_add_test(NAME unit.sampler.infotext LABEL unit COMMAND test_sampler infotext)
foreach(c euler_a euler ddim)
  vkt_add_test(NAME golden.sample.${c}.fp32 LABEL golden COMMAND test_sampler golden ${c})
  vkt_add_test(NAME golden.sample.${c}.fp16 LABEL golden COMMAND test_sampler golden ${c} f16)
endforeach()
