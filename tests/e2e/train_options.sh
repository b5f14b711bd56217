#!/usr/bin/env bash
# `vktrain embedding train`, option by option on the tiny model: each option changes what it
# should (seen in the per-mini-batch debug lines, the loss CSV, the settings JSON, the written
# vectors and files) and bad values fail with a message before any log folder exists. Outputs,
# resume, SIGINT, kohya/EMA files and --config basics are train_ti.sh's; not repeated here.
set -u
V=$1 D=$2
rm -rf "$D" && mkdir -p "$D"
pass=0 fail=0
check() { if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }

# tga FILE W H SEED [ALPHA]: uncompressed top-left TGA (stb reads it) with a seed-dependent colour
# pattern; ALPHA "ramp" adds an alpha channel rising left to right, "const" a constant one.
tga() {
    LC_ALL=C awk -v w="$2" -v h="$3" -v s="$4" -v a="${5:-}" 'BEGIN {
      printf "%c%c%c%c%c%c%c%c%c%c%c%c", 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0
      printf "%c%c%c%c%c%c", w % 256, int(w / 256), h % 256, int(h / 256), a == "" ? 24 : 32, a == "" ? 32 : 40
      for (y = 0; y < h; y++) for (x = 0; x < w; x++) {
        printf "%c%c%c", (x * (s + 3) + 17 * s) % 256, (y * (2 * s + 1) + 5) % 256, ((x + y) * 7 + 40 * s) % 256
        if (a == "ramp") printf "%c", 1 + int(x * 254 / (w - 1)); else if (a == "const") printf "%c", 200 } }' > "$1"
}

M="$D/tiny.safetensors"
"$V" make-tiny-model "$M" >/dev/null 2>&1; check "tiny model" $?
# d4: 4 images 64x64 (the tiny model's smallest size) captioned "imgI, alpha, bravo, charlie"
mkdir -p "$D/d4" "$D/d2" "$D/dn" "$D/dw" "$D/dv" "$D/da" "$D/dc"
for i in 0 1 2 3; do tga "$D/d4/i$i.tga" 64 64 "$i"; printf 'img%d, alpha, bravo, charlie' "$i" > "$D/d4/i$i.txt"; done
for i in 0 1; do cp "$D/d4/i$i.tga" "$D/d4/i$i.txt" "$D/d2/"; done                 # 2 images
tga "$D/dn/0001-red cat.tga" 64 64 1; tga "$D/dn/0002-blue dog.tga" 64 64 2     # captions from names
tga "$D/dw/a.tga" 128 128 1; tga "$D/dw/b.tga" 128 128 2                           # big enough for 128x64
tga "$D/dv/a.tga" 64 64 1; tga "$D/dv/b.tga" 128 64 2; tga "$D/dv/c.tga" 64 128 3  # three sizes,
tga "$D/dv/d.tga" 72 72 4                                  # and one the tiny UNet cannot take (x16)
tga "$D/da/a.tga" 64 64 1 ramp                                                     # alpha ramp
tga "$D/dc/a.tga" 64 64 1 const                                                    # constant alpha
printf '[name] [filewords]\n' > "$D/t.txt"

# run TAG DATA [options]: one training of "emb" (1 vector, safetensors: the vectors are the file's
# last 512 bytes) with the debug log in TAG.err, logs in l_TAG, the result in o_TAG
run() {
    local tag=$1 data=$2
    shift 2
    VKTRAIN_LOG=debug "$V" embedding train --model "$M" --data "$data" --embedding emb --width 64 --height 64 \
        --template "$D/t.txt" --steps 2 --lr 0.01 --save-every 0 --preview-every 0 --csv-every 1 --quiet \
        --save-format safetensors --log-dir "$D/l_$tag" --out "$D/o_$tag" "$@" >/dev/null 2>"$D/$tag.err"
}
prompts() { sed -n 's/^batch [0-9]*: .*, prompt "\(.*\)"$/\1/p' "$D/$1.err"; }
latents() { sed -n 's/^batch [0-9]*: \([0-9]*x[0-9]*\) latent.*/\1/p' "$D/$1.err"; }
csv() { tail -n +2 "$D/l_$1"/*/emb/textual_inversion_loss.csv | tr -d '\r'; } # rows end in \r\n (Python's csv)
col() { csv "$1" | cut -d, -f"$2" | tr '\n' ' '; } # one CSV column of a run
settings() { cat "$D/l_$1"/*/emb/settings-*.json; }
vec() { tail -c 512 "${2:-$D/o_$1/emb.safetensors}"; } # vec TAG [FILE]: the raw float32 vector
floats() { vec "$@" | od -An -v -tf4 | tr -s ' ' '\n' | grep .; }
same_vec() { cmp -s <(vec "$1") <(vec "$2"); }      # same_vec TAG TAG
# maxdiff A B: max |a - b| over the elements of two runs' vectors
maxdiff() { paste <(floats "$1") <(floats "$2") | awk '{d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d} END {printf "%.9g", m}'; }
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }

# --- captions, templates, tags (the debug line of every mini-batch shows its first prompt) -----
run plain "$D/d4" --steps 4; check "plain run" $?
prompts plain > "$D/p.plain"
[ "$(grep -c . "$D/p.plain")" -eq 4 ] && ! grep -vqE '^emb img[0-3], alpha, bravo, charlie$' "$D/p.plain"
check "--template FILE: every prompt is its one line with the caption as is" $?
run subj "$D/d4" --template subject; check "--template subject run" $?
! prompts subj | grep -q alpha && prompts subj | grep -q 'emb' && [ "$(prompts subj | grep -c .)" -eq 2 ]
check "--template NAME: the embedded subject template (no filewords)" $?
run drop1 "$D/d4" --tag-dropout 1 --steps 4; check "--tag-dropout 1 run" $?
[ "$(prompts drop1 | grep -c .)" -eq 4 ] && ! prompts drop1 | grep -qE 'img|alpha|bravo|charlie'
check "--tag-dropout 1 removes every tag" $?
# 0.5: over 8 uses (4 steps x 2 accumulated) some tags go, some stay; the 4 tags of a caption are
# kept in their order (dropout never reorders)
run drop5 "$D/d4" --tag-dropout 0.5 --steps 4 --grad-accum 2; check "--tag-dropout 0.5 run" $?
kept=$(prompts drop5 | grep -oE 'img[0-3]|alpha|bravo|charlie' | grep -c .)
[ "$kept" -gt 0 ] && [ "$kept" -lt 32 ]; check "--tag-dropout 0.5 keeps some of the 32 tags ($kept)" $?
! prompts drop5 | grep -qE 'bravo.*alpha|charlie.*(alpha|bravo)'; check "...without reordering them" $?
run shuf "$D/d4" --shuffle-tags --steps 4 --grad-accum 2; check "--shuffle-tags run" $?
prompts shuf > "$D/p.shuf"
ok=0
while read -r p; do # every prompt has the four tags once each
    for t in 'img[0-3]' alpha bravo charlie; do [ "$(grep -oE "$t" <<< "$p" | grep -c .)" -eq 1 ] || ok=1; done
done < "$D/p.shuf"
[ "$(grep -c . "$D/p.shuf")" -eq 8 ] && [ $ok -eq 0 ]; check "--shuffle-tags keeps every tag" $?
grep -vqE '^emb img[0-3], alpha, bravo, charlie$' "$D/p.shuf"; check "--shuffle-tags changes the order" $?
# file-name captions: leading digits and dash stripped; the regex picks words, the join string joins
# them (and does nothing without a regex)
run fn "$D/dn" --filewords-join + ; check "file-name captions run" $?
[ "$(prompts fn | sort -u | tr '\n' '|')" = "emb blue dog|emb red cat|" ]; check "caption from the file name" $?
run fnre "$D/dn" --filename-regex '[a-z]+'; check "--filename-regex run" $?
[ "$(prompts fnre | sort -u | tr '\n' '|')" = "emb blue dog|emb red cat|" ]; check "--filename-regex words joined by the default space" $?
run fnre2 "$D/dn" --filename-regex 'cat|dog'; check "--filename-regex 'cat|dog' run" $?
[ "$(prompts fnre2 | sort -u | tr '\n' '|')" = "emb cat|emb dog|" ]; check "--filename-regex keeps only its matches" $?
run fnj "$D/dn" --filename-regex '[a-z]+' --filewords-join +; check "--filewords-join run" $?
[ "$(prompts fnj | sort -u | tr '\n' '|')" = "emb blue+dog|emb red+cat|" ]; check "--filewords-join joins the regex matches" $?

# --- data order, epochs, batches ----------------------------------------------------------------
# 4 images: an epoch is 4 updates at batch 1, 2 at batch 2; CSV epoch = (step - 1) div that
[ "$(col plain 2)" = "0 0 0 0 " ]; check "batch 1: 4 steps in epoch 0" $?
[ "$(prompts plain | sort -u | grep -c .)" -eq 4 ]; check "an epoch uses every image once" $?
run b2 "$D/d4" --batch 2 --steps 3; check "--batch 2 run" $?
[ "$(col b2 2)" = "0 0 1 " ] && [ "$(col b2 3)" = "0 1 0 " ]; check "--batch 2: 2 steps per epoch (csv)" $?
grep -q "recorded a 2x77-token" "$D/b2.err" && settings b2 | grep -q '"batch_size": 2,'; check "--batch 2: mini-batches of 2" $?
run b9 "$D/d2" --batch 9 --steps 1; check "--batch 9 on 2 images runs" $?
grep -q "recorded a 2x77-token" "$D/b9.err" && settings b9 | grep -q '"batch_size": 2,'; check "--batch is clamped to the image count" $?
run ga "$D/d4" --grad-accum 2 --steps 3; check "--grad-accum 2 run" $?
[ "$(grep -c '^batch ' "$D/ga.err")" -eq 6 ] && [ "$(col ga 2)" = "0 0 1 " ] && settings ga | grep -q '"gradient_step": 2,'
check "--grad-accum 2: two mini-batches per update, 2 updates per epoch" $?
run ga9 "$D/d4" --grad-accum 9 --steps 1; check "--grad-accum 9 run" $?
[ "$(grep -c '^batch ' "$D/ga9.err")" -eq 4 ] && settings ga9 | grep -q '"gradient_step": 4,'
check "--grad-accum is clamped to images / batch" $?
# --repeats 2 on 2 images: an epoch is 4 entries, so steps 3 and 4 stay in epoch 0
run r1 "$D/d2" --steps 4; check "2-image run" $?
run r2 "$D/d2" --steps 4 --repeats 2; check "--repeats 2 run" $?
[ "$(col r1 2)" = "0 0 1 1 " ] && [ "$(col r2 2)" = "0 0 0 0 " ] && [ "$(col r2 3)" = "0 1 2 3 " ]
check "--repeats 2 doubles the epoch" $?
[ "$(prompts r2 | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" = "2 2 " ]; check "...each image twice in it" $?
# the seed decides data order, timesteps and noise; the same seed repeats the run bit for bit
run s1 "$D/d4" --seed 1 --steps 3; check "seed 1 run" $?
run s1b "$D/d4" --seed 1 --steps 3; check "seed 1 again" $?
run s2 "$D/d4" --seed 2 --steps 3; check "seed 2 run" $?
cmp -s <(grep '^batch ' "$D/s1.err") <(grep '^batch ' "$D/s1b.err") && same_vec s1 s1b && cmp -s <(csv s1) <(csv s1b)
check "same --seed: same batches, loss and vectors" $?
! cmp -s <(grep '^batch ' "$D/s1.err") <(grep '^batch ' "$D/s2.err") && ! same_vec s1 s2; check "other --seed: other batches and vectors" $?

# --- sizes -----------------------------------------------------------------------------------------
latents plain | sort -u | grep -qx 8x8; check "64x64: 8x8 latents" $?
run wh "$D/dw" --width 128 --height 64 --steps 1; check "--width 128 --height 64 run" $?
[ "$(latents wh | sort -u)" = "8x16" ] && settings wh | grep -q '"training_width": 128,'; check "--width/--height set the latent (HxW 8x16)" $?
run nv "$D/dv" --steps 4; check "mixed sizes resized run" $?
[ "$(latents nv | sort -u | tr '\n' ' ')" = "8x8 " ]; check "without --varsize every image is resized" $?
run vs "$D/dv" --varsize --steps 4; check "--varsize run (72x72 centre-cropped to 64x64)" $?
[ "$(latents vs | sort -u | tr '\n' ' ')" = "16x8 8x16 8x8 " ]; check "--varsize trains each image at its own size" $?
grep -q "size buckets" "$D/vs.err"; check "...in size buckets" $?

# --- learning rate: the CSV's rate column is the rate each update used ---------------------------
run lr "$D/d4" --lr "0.01:2, 0.001:3, 0.0001" --steps 4; check "--lr schedule run" $?
[ "$(col lr 5)" = "0.01 0.01 0.001 0.0001 " ]; check "--lr schedule switches after steps 2 and 3" $?
run lrend "$D/d4" --lr "0.01:2" --steps 4; check "--lr ending early run" $?
[ "$(csv lrend | grep -c .)" -eq 2 ] && grep -q "^2 steps in" "$D/lrend.err"
check "a schedule that ends before --steps stops training there" $?
run wu "$D/d4" --warmup 2 --steps 3; check "--warmup run" $?
[ "$(col wu 5)" = "0.005 0.01 0.01 " ]; check "--warmup 2: rate x 1/2, then x 1" $?
# cosine from 0.01 to 0.001 over 4 steps: 0.001 + 0.009 (1 + cos(pi k / 4)) / 2, k = 0..3
run cos "$D/d4" --cosine --lr-min 0.001 --steps 4; check "--cosine run" $?
csv cos | awk -F, 'BEGIN { pi = atan2(0, -1) } { k = $1 - 1; e = 0.001 + 0.009 * (1 + cos(pi * k / 4)) / 2
    d = $5 - e; if (d < 0) d = -d; if (d > 1e-6 * e) bad = 1; n++ } END { exit bad || n != 4 }'
r=$? rates=$(col cos 5) # ($? must be taken before any $(...) in check's arguments)
check "--cosine --lr-min: cosine annealing ($rates)" $r
# --lr 0 leaves the vectors as initialised: the reference for the clipping checks below
run lr0 "$D/d4" --lr 0 --steps 1; check "--lr 0 run" $?
run one "$D/d4" --steps 1; check "1-step run" $?
! same_vec lr0 one; check "--lr moves the vectors" $?
d=$(maxdiff lr0 one) d_none=$d
# AdamW's first update is lr g / (|g| + eps) per element: about lr for every element with |g| >> eps
within "$d" 0.0099 0.01001; check "first AdamW step moves by up to lr ($d)" $?

# --- gradient clipping ---------------------------------------------------------------------------
# AdamW normalises the gradient, so a clip that only rescales changes nothing visible unless the
# clipped gradient gets near eps = 1e-8: the first update of element i is lr g'_i / (|g'_i| + eps).
# So: a threshold of 0 must freeze the vectors (g' = 0), a huge one must change nothing (bytes
# equal to no clipping), and a threshold of 1e-8 must shrink the update measurably: value mode
# clamps every big element to 1e-8, so the largest step is exactly lr/2; norm mode scales the
# whole gradient to norm 1e-8, so every element is below 1e-8 and the largest step is below lr/2,
# and the norm of the gradient recovered from the steps, g'_i = eps u_i / (1 - u_i) with
# u_i = |step_i| / lr, is 1e-8 (to 0.5 %: float32 steps of ~1e-3 on values ~0.05 keep ~4 digits;
# the op's 1e-6 in norm + 1e-6 is far below the true norm here).
for mode in value norm; do
    run "c${mode}0" "$D/d4" --steps 1 --clip-grad $mode --clip-grad-value 0; check "--clip-grad $mode 0 run" $?
    same_vec lr0 "c${mode}0"; check "--clip-grad $mode 0 freezes the vectors" $?
    run "c${mode}big" "$D/d4" --steps 1 --clip-grad $mode --clip-grad-value 1e9; check "--clip-grad $mode 1e9 run" $?
    same_vec one "c${mode}big"; check "--clip-grad $mode 1e9 changes nothing" $?
    run "c${mode}" "$D/d4" --steps 1 --clip-grad $mode --clip-grad-value 1e-8; check "--clip-grad $mode 1e-8 run" $?
done
d=$(maxdiff lr0 cvalue) d_value=$d
within "$d" 0.00499 0.00501; check "--clip-grad value 1e-8: largest step lr/2 ($d)" $?
d=$(maxdiff lr0 cnorm) d_norm=$d
within "$d" 0.0001 0.00499; check "--clip-grad norm 1e-8: every step below lr/2 ($d)" $?
gn=$(paste <(floats lr0) <(floats cnorm) | awk '{u = ($1 - $2) / 0.01; if (u < 0) u = -u; g = 1e-8 * u / (1 - u); s += g * g}
    END {printf "%.4g", sqrt(s)}')
within "$gn" 0.995e-8 1.005e-8; check "--clip-grad norm 1e-8: the clipped gradient's norm is 1e-8 ($gn)" $?
# the clip value is a schedule too: 0 for the first update (no step), then effectively off
run csch "$D/d4" --steps 2 --clip-grad value --clip-grad-value "0:1, 1e9" --save-every 1; check "clip value schedule run" $?
cmp -s <(vec lr0) <(vec x "$(ls "$D"/l_csch/*/emb/embeddings/emb-2.safetensors)") && ! same_vec lr0 csch
check "--clip-grad-value schedule: frozen for step 1, moving in step 2" $?

# --- latents, weights, precision, text encoder ----------------------------------------------------
# one update each: the first loss shows which latents were used (same seed: same t and noise)
for m in once deterministic random; do run "ls_$m" "$D/d4" --steps 1 --latent-sampling $m; check "--latent-sampling $m run" $?; done
run ls_random2 "$D/d4" --steps 1 --latent-sampling random; check "--latent-sampling random again" $?
l1=$(col ls_once 4) l2=$(col ls_deterministic 4) l3=$(col ls_random 4)
[ "$l1" != "$l2" ] && [ "$l1" != "$l3" ] && [ "$l2" != "$l3" ]; check "once, deterministic and random latents differ ($l1/$l2/$l3)" $?
[ "$l1" = "$(col one 4)" ]; check "once is the default" $?
cmp -s <(csv ls_random) <(csv ls_random2) && same_vec ls_random ls_random2; check "random sampling repeats for a seed" $?
settings ls_deterministic | grep -q '"latent_sampling_method": "deterministic"'; check "settings name the sampling" $?
run w_ramp "$D/da" --steps 1; check "alpha image run" $?
run w_ramp_w "$D/da" --steps 1 --use-weight; check "--use-weight run" $?
[ "$(col w_ramp 4)" != "$(col w_ramp_w 4)" ]; check "--use-weight: the alpha ramp weights the loss" $?
run w_none_w "$D/d4" --steps 1 --use-weight; check "--use-weight without alpha run" $?
[ "$(col one 4)" = "$(col w_none_w 4)" ]; check "--use-weight: no alpha, weight 1" $?
run w_const "$D/dc" --steps 1; check "constant alpha run" $?
run w_const_w "$D/dc" --steps 1 --use-weight; check "--use-weight constant alpha run" $?
[ "$(col w_const 4)" = "$(col w_const_w 4)" ]; check "--use-weight: constant alpha, weight 1" $?
run fp16 "$D/d4" --precision fp16; check "--precision fp16 run" $?
l16=$(col fp16 4)
csv fp16 | awk -F, '$4 + 0 == $4 && $4 > 0 && $4 < 10 { n++ } END { exit n != 2 }'; check "--precision fp16: finite losses ($l16)" $?
[ "$(col fp16 4 | cut -d' ' -f1)" != "$(col one 4 | cut -d' ' -f1)" ]; check "...computed in fp16 (not the fp32 numbers)" $?
run cs2 "$D/d4" --steps 1 --clip-skip 2; check "--clip-skip 2 run" $?
[ "$(col one 4)" != "$(col cs2 4)" ]; check "--clip-skip 2 changes the loss" $?

# --- the embedding ---------------------------------------------------------------------------------
run v3 "$D/d4" --steps 1 --vectors 3 --init-text "a photo of"; check "--vectors 3 run" $?
"$V" info "$D/o_v3/emb.safetensors" --json 2>/dev/null | grep -Eq '"vectors":[[:space:]]*3,'; check "--vectors 3 gives 3 vectors" $?
run it0 "$D/d4" --lr 0 --steps 1 --init-text ""; check "--init-text \"\" run" $?
cmp -s <(vec it0) <(head -c 512 /dev/zero); check "--init-text \"\": zero vectors" $?
run itc "$D/d4" --lr 0 --steps 1 --init-text cat; check "--init-text cat run" $?
! same_vec itc lr0 && ! same_vec itc it0; check "--init-text sets the vectors" $?
# EMA, beta 0.5, after 2 updates v1, v2 from init v0: every step 0.25 v0 + 0.25 v1 + 0.5 v2, every
# 2nd step 0.5 v0 + 0.5 v2
run ema1 "$D/d4" --ema 0.5 --save-every 1; check "--ema 0.5 run" $?
run ema2 "$D/d4" --ema 0.5 --ema-update-every 2; check "--ema-update-every 2 run" $?
e1=$(paste <(floats lr0) <(floats x "$(ls "$D"/l_ema1/*/emb/embeddings/emb-2.safetensors)") <(floats ema1) <(floats x "$D/o_ema1/emb-ema.safetensors") |
     awk '{d = 0.25 * $1 + 0.25 * $2 + 0.5 * $3 - $4; if (d < 0) d = -d; if (d > m) m = d} END {printf "%.3g", m}')
within "$e1" 0 1e-8; check "--ema 0.5: EMA of init and both steps (max error $e1)" $?
same_vec ema1 ema2; check "the EMA setting leaves the raw vectors alone" $?
e2=$(paste <(floats lr0) <(floats ema2) <(floats x "$D/o_ema2/emb-ema.safetensors") |
     awk '{d = 0.5 * $1 + 0.5 * $2 - $3; if (d < 0) d = -d; if (d > m) m = d} END {printf "%.3g", m}')
within "$e2" 0 1e-8; check "--ema-update-every 2: one EMA update, at step 2 (max error $e2)" $?

# --- outputs ----------------------------------------------------------------------------------------
[ ! -e "$D/o_plain/emb.safetensors.optim" ] && ! ls "$D"/o_*/*.optim >/dev/null 2>&1; check "no .optim without --save-optimizer" $?
run cv2 "$D/d4" --steps 4 --csv-every 2; check "--csv-every 2 run" $?
[ "$(col cv2 1)" = "2 4 " ]; check "--csv-every 2: rows for steps 2 and 4" $?
run cv0 "$D/d4" --steps 1 --csv-every 0; check "--csv-every 0 run" $?
! grep -qs . "$D"/l_cv0/*/emb/textual_inversion_loss.csv; check "--csv-every 0: no loss rows" $?
ls "$D"/l_one/*/emb/settings-*.json >/dev/null 2>&1 && [ -f "$D/o_one/emb.safetensors" ]; check "--log-dir and --out hold the run" $?
[ ! -s "$D/one.err" ] || ! grep -q "^step " "$D/one.err"; check "--quiet: no progress lines" $?
VKTRAIN_LOG=info "$V" embedding train --model "$M" --data "$D/d4" --embedding emb --width 64 --height 64 --steps 1 \
    --save-every 0 --preview-every 0 --log-dir "$D/l_loud" --out "$D/o_loud" >/dev/null 2>"$D/loud.err"
grep -q "^step 1/1" "$D/loud.err"; check "without --quiet: progress lines" $?
# previews: defaults (the batch's first prompt, seed + step, the training size) ...
run pv "$D/d4" --steps 1 --preview-every 1 --save-every 1 --preview-steps 2 --seed 5; check "preview run" $?
png="$(ls "$D"/l_pv/*/emb/images/emb-2.png 2>/dev/null)"
grep -aq "$(prompts pv | tail -1)" "$png" && grep -aq "Seed: 6," "$png" && grep -aq "Size: 64x64," "$png"
check "preview defaults: the batch's prompt, seed + step, training size" $?
ls "$D"/l_pv/*/emb/image_embeddings/emb-2.png >/dev/null 2>&1; check "image with embedding by default" $?
# ... and every preview option, which all land in the infotext (and the PNG's size)
run pvo "$D/d4" --steps 2 --preview-every 2 --save-every 2 --preview-prompt "zzq emb" --preview-negative-prompt "ugly" \
    --preview-steps 3 --preview-sampler ddim --preview-cfg-scale 3.5 --preview-seed 42 --preview-width 64 \
    --preview-height 128 --no-save-image-with-embedding; check "preview options run" $?
png="$(ls "$D"/l_pvo/*/emb/images/emb-2.png 2>/dev/null)"
grep -aq "zzq emb" "$png" && grep -aq "Negative prompt: ugly" "$png" && grep -aq "Steps: 3, Sampler: DDIM, CFG scale: 3.5, Seed: 42, Size: 64x128" "$png"
check "preview prompt, negative, steps, sampler, cfg, seed, size in the infotext" $?
[ "$(head -c 24 "$png" | tail -c 8 | od -An -tx1 | tr -d ' \n')" = "0000004000000080" ]; check "preview PNG is 64x128" $?
[ ! -e "$(dirname "$(dirname "$png")")/image_embeddings" ]; check "--no-save-image-with-embedding" $?

# --- bad inputs: a message, exit 1 or 2, and no log folder -----------------------------------------
# bad WHAT PATTERN DATA [options]: PATTERN must be in the message
nb=0
bad() {
    local what=$1 pat=$2 data=$3
    shift 3
    nb=$((nb + 1))
    "$V" embedding train --model "$M" --data "$data" --embedding emb --width 64 --height 64 --steps 2 --template "$D/t.txt" \
        --save-every 0 --preview-every 0 --quiet --log-dir "$D/bad$nb" --out "$D/badout$nb" "$@" >/dev/null 2>"$D/bad$nb.err"
    local rc=$?
    [ $rc -eq 1 ] || [ $rc -eq 2 ]; check "$what: exit 1 or 2 (got $rc)" $?
    grep -q -- "$pat" "$D/bad$nb.err" && [ ! -e "$D/bad$nb" ]; check "$what: message names \"$pat\", no log folder" $?
}
bad "--latent-sampling foo" "latent-sampling" "$D/d4" --latent-sampling foo
bad "--clip-grad foo" "clip-grad" "$D/d4" --clip-grad foo
bad "--precision fp8" "precision" "$D/d4" --precision fp8
bad "--batch 0" "batch" "$D/d4" --batch 0
bad "--batch -1" "batch" "$D/d4" --batch -1
bad "--grad-accum 0" "grad-accum" "$D/d4" --grad-accum 0
bad "--steps 0" "steps" "$D/d4" --steps 0
bad "--repeats 0" "repeats" "$D/d4" --repeats 0
bad "--tag-dropout 1.5" "tag-dropout" "$D/d4" --tag-dropout 1.5
bad "--vectors 0" "vectors" "$D/d4" --vectors 0
bad "--lr-min -1" "lr-min" "$D/d4" --lr-min -1
bad "--ema 1" "ema" "$D/d4" --ema 1
bad "--save-format foo" "save-format" "$D/d4" --save-format foo
bad "--lr 0.01:x" "learning rate" "$D/d4" --lr "0.01:x"
bad "--clip-grad-value abc" "gradient clip value" "$D/d4" --clip-grad norm --clip-grad-value abc
bad "--width 100" "100x64" "$D/d4" --width 100
bad "--width 72 (the tiny UNet needs 16)" "16" "$D/dw" --width 72 --height 72
bad "--preview-width 72" "preview" "$D/d4" --preview-every 1 --preview-width 72
bad "--preview-sampler foo" "foo" "$D/d4" --preview-every 1 --preview-sampler foo
bad "--template missing" "nothere" "$D/d4" --template "$D/nothere.txt"
bad "image smaller than the size" "dv/a.tga" "$D/dv" --width 128 --height 64
bad "bad --filename-regex" "regex" "$D/dn" --filename-regex "("
mkdir -p "$D/dbad" "$D/dtrunc"
cp "$D/d4/i0.tga" "$D/dbad/"; printf 'not an image' > "$D/dbad/junk.png"
bad "unreadable image" "dbad/junk.png" "$D/dbad"
# a PNG cut in its pixel data (stb reads a cut TGA as black pixels, so a PNG: the preview's)
cp "$D/d4/i0.tga" "$D/dtrunc/"; head -c 3000 "$(ls "$D"/l_pv/*/emb/images/emb-2.png)" > "$D/dtrunc/cut.png"
bad "truncated image" "dtrunc/cut.png" "$D/dtrunc"
printf '{"clip_grad_mode": "foo"}' > "$D/cfg1.json"; bad "config clip_grad_mode foo" "clip_grad_mode" "$D/d4" --config "$D/cfg1.json"
printf '{"latent_sampling_method": "foo"}' > "$D/cfg2.json"; bad "config latent_sampling_method foo" "latent_sampling_method" "$D/d4" --config "$D/cfg2.json"
# --config reads the dataset keys too (train_ti.sh checks the basic ones)
printf '{"tag_drop_out": 1, "latent_sampling_method": "deterministic"}' > "$D/cfg3.json"
run cfg "$D/d4" --steps 1 --config "$D/cfg3.json"; check "--config tag_drop_out run" $?
! prompts cfg | grep -q alpha && settings cfg | grep -q '"latent_sampling_method": "deterministic"'; check "--config: tag_drop_out and latent_sampling_method used" $?

echo "largest first step at lr 0.01: no clip $d_none, value 1e-8 $d_value, norm 1e-8 $d_norm (gradient norm $gn);" \
    "EMA errors $e1, $e2; fp16 losses $(col fp16 4)"
echo "train_options: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
