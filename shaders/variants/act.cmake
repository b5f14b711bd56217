vkt_variant(act_fwd_f32 act.comp DEFINES VKT_FWD)
vkt_variant(act_bwd_f32 act.comp DEFINES VKT_BWD)
vkt_variant(act_fwd_f16 act.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_FWD VKT_F16)
vkt_variant(act_bwd_f16 act.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_BWD VKT_F16)
