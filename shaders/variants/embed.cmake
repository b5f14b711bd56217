# fwd: table and y in the named dtype, learned vectors always f32. bwd: dy in the named dtype,
# dvectors / dtable always f32.
vkt_variant(embed_fwd_f32 embed.comp DEFINES VKT_FWD)
vkt_variant(embed_fwd_f16 embed.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_FWD VKT_F16)
vkt_variant(embed_bwd_f32_vectors embed.comp DEFINES VKT_BWD_VECTORS)
vkt_variant(embed_bwd_f16_vectors embed.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_BWD_VECTORS VKT_F16)
vkt_variant(embed_bwd_f32_table embed.comp DEFINES VKT_BWD_TABLE)
vkt_variant(embed_bwd_f16_table embed.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_BWD_TABLE VKT_F16)
