# The variant list: one file per op family in variants/, each line
#   vkt_variant(<family>_<fwd|bwd>_<dtype>[_<path>] <source>.comp [REQUIRES <probe>...] [DEFINES D...])
# Probes (set in CMakeLists.txt): VKT_GLSL_F16, VKT_GLSL_NVCM, VKT_GLSL_KHRCM.
file(GLOB vkt_variant_files CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/variants/*.cmake)
list(SORT vkt_variant_files)
foreach(f ${vkt_variant_files})
  include(${f})
endforeach()
