vkt_variant(concat_fwd_f32 concat.comp DEFINES VKT_FWD)
vkt_variant(concat_bwd_f32 concat.comp DEFINES VKT_BWD)
vkt_variant(concat_fwd_f16 concat.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_FWD VKT_F16)
vkt_variant(concat_bwd_f16 concat.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_BWD VKT_F16)
