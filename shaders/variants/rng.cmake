vkt_variant(rng_fill_f32 rng.comp DEFINES VKT_FILL)
vkt_variant(rng_dropout_f32 rng.comp DEFINES VKT_DROPOUT)
