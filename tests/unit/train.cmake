# Training data and logging (host side, no Vulkan needed): images, Pillow-exact resize, dataset,
# learning-rate schedules, loss CSV / settings / plot. io/image's test lives here with them.
add_executable(test_base_extra ${CMAKE_CURRENT_LIST_DIR}/test_base_extra.c)
target_link_libraries(test_base_extra PRIVATE vkt_base vkt_testkit m)
vkt_add_test(NAME unit.base.rng_pyfmt LABEL unit COMMAND test_base_extra)

add_executable(test_image ${CMAKE_CURRENT_LIST_DIR}/test_image.c)
target_link_libraries(test_image PRIVATE vkt_io vkt_base vkt_testkit vkt_stb PkgConfig::WEBP
                      PkgConfig::ZLIB m)
vkt_add_test(NAME unit.io.image LABEL unit COMMAND test_image)

foreach(t resize dataset lr_schedule logs)
  add_executable(test_${t} ${CMAKE_CURRENT_LIST_DIR}/test_${t}.c)
  target_link_libraries(test_${t} PRIVATE vkt_train vkt_io vkt_base vkt_testkit vkt_stb
                        PkgConfig::WEBP PkgConfig::ZLIB m)
  vkt_add_test(NAME unit.train.${t} LABEL unit COMMAND test_${t})
endforeach()
target_link_libraries(test_dataset PRIVATE Threads::Threads)
