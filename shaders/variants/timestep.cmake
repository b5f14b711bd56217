vkt_variant(timestep_fwd_f32 timestep.comp DEFINES VKT_FWD)
vkt_variant(timestep_fwd_f32_tfloat timestep.comp DEFINES VKT_FWD VKT_T_F32)
