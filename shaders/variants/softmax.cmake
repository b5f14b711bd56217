vkt_variant(softmax_fwd_f32 softmax.comp DEFINES VKT_FWD)
vkt_variant(softmax_bwd_f32 softmax.comp DEFINES VKT_BWD)
vkt_variant(softmax_fwd_f16 softmax.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_FWD VKT_F16)
vkt_variant(softmax_bwd_f16 softmax.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_BWD VKT_F16)
