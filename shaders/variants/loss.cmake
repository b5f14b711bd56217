vkt_variant(loss_fwd_f32 loss.comp DEFINES VKT_FWD)
vkt_variant(loss_bwd_f32 loss.comp DEFINES VKT_BWD)
