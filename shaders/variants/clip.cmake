vkt_variant(clip_value_f32 clip.comp DEFINES VKT_VALUE)
vkt_variant(clip_partial_f32 clip.comp DEFINES VKT_PARTIAL)
vkt_variant(clip_final_f32 clip.comp DEFINES VKT_FINAL)
vkt_variant(clip_apply_f32 clip.comp DEFINES VKT_APPLY)
