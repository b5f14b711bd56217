vkt_variant(timestep_fwd_f32 timestep.comp DEFINES VKT_FWD)
