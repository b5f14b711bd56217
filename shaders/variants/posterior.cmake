vkt_variant(posterior_fwd_f32 posterior.comp DEFINES VKT_SPLIT)
vkt_variant(posterior_fwd_f32_sample posterior.comp DEFINES VKT_SAMPLE)
vkt_variant(posterior_fwd_f16 posterior.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_SPLIT VKT_F16)
vkt_variant(posterior_fwd_f16_sample posterior.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_SAMPLE VKT_F16)
