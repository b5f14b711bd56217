vkt_variant(cast_fwd_f16 cast.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_TO_F16)
vkt_variant(cast_bwd_f16 cast.comp REQUIRES VKT_GLSL_F16)
