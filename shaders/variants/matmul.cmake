# matmul_fwd: tiled batched GEMM (forward and every backward product); matmul_bwd: bias gradient.
vkt_variant(matmul_fwd_f32 matmul.comp DEFINES VKT_FWD)
vkt_variant(matmul_bwd_f32 matmul.comp DEFINES VKT_BWD)
vkt_variant(matmul_fwd_f16 matmul.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_FWD VKT_F16)
vkt_variant(matmul_bwd_f16 matmul.comp REQUIRES VKT_GLSL_F16 DEFINES VKT_BWD VKT_F16)
