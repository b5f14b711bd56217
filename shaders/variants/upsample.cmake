vkt_variant(upsample_fwd_f32 upsample.comp DEFINES VKT_FWD)
vkt_variant(upsample_bwd_f32 upsample.comp DEFINES VKT_BWD)
vkt_variant(upsample_fwd_f16 upsample.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_FWD VKT_F16)
vkt_variant(upsample_bwd_f16 upsample.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_BWD VKT_F16)
