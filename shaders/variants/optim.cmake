vkt_variant(optim_adamw_f32 optim.comp DEFINES VKT_ADAMW)
vkt_variant(optim_ema_f32 optim.comp DEFINES VKT_EMA)
