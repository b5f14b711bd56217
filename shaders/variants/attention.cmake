# attention_fwd: flash forward; attention_bwd_*_kv: dk/dv pass; attention_bwd_*_q: dq pass.
vkt_variant(attention_fwd_f32 attention.comp DEFINES VKT_FWD)
vkt_variant(attention_bwd_f32_kv attention.comp DEFINES VKT_BWD_KV)
vkt_variant(attention_bwd_f32_q attention.comp DEFINES VKT_BWD_Q)
vkt_variant(attention_fwd_f16 attention.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_FWD VKT_F16)
vkt_variant(attention_bwd_f16_kv attention.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_BWD_KV VKT_F16)
vkt_variant(attention_bwd_f16_q attention.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_BWD_Q VKT_F16)
