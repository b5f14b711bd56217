vkt_variant(binary_fwd_f32 binary.comp DEFINES VKT_FWD)
vkt_variant(binary_bwd_f32 binary.comp DEFINES VKT_BWD)
vkt_variant(binary_fwd_f16 binary.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_FWD VKT_F16)
vkt_variant(binary_bwd_f16 binary.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_BWD VKT_F16)
