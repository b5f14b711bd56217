vkt_variant(reduce_fwd_f32 reduce.comp DEFINES VKT_FWD)
vkt_variant(reduce_bwd_f32 reduce.comp DEFINES VKT_BWD)
