vkt_variant(spatial_attn_fwd_f32 spatial_attn.comp DEFINES VKT_FWD)
vkt_variant(spatial_attn_fwd_f16 spatial_attn.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_FWD VKT_F16)
