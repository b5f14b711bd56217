# models/vae: unit.vae.model (loading TINY and SD1.5 with dims from shapes, argument checks,
# latent helpers, RGB8) and golden.vae.fp32/fp16 (TINY encoder, decoder and blocks vs
# tests/golden). `test_vae plan 512 [f16]` prints SD1.5's planned memory (not a test).
add_executable(test_vae ${CMAKE_CURRENT_LIST_DIR}/test_vae.c)
target_link_libraries(test_vae PRIVATE vkt_models vkt_testkit)
vkt_add_test(NAME unit.vae.model LABEL unit COMMAND test_vae unit)
vkt_add_test(NAME golden.vae.fp32 LABEL golden COMMAND test_vae golden f32)
vkt_add_test(NAME golden.vae.fp16 LABEL golden COMMAND test_vae golden f16)
