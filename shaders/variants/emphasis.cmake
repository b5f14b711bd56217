vkt_variant(emphasis_fwd_f32 emphasis.comp DEFINES VKT_FWD)
vkt_variant(emphasis_bwd_f32 emphasis.comp DEFINES VKT_BWD)
vkt_variant(emphasis_fwd_f16 emphasis.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_FWD VKT_F16)
vkt_variant(emphasis_bwd_f16 emphasis.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_BWD VKT_F16)
