vkt_variant(geglu_fwd_f32 geglu.comp DEFINES VKT_FWD)
vkt_variant(geglu_bwd_f32 geglu.comp DEFINES VKT_BWD)
vkt_variant(geglu_fwd_f16 geglu.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_FWD VKT_F16)
vkt_variant(geglu_bwd_f16 geglu.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_BWD VKT_F16)
