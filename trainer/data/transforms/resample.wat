;; The two passes of Pillow's 8-bit resampler (Resample.c), in WebAssembly SIMD.
;; Weights are Pillow's 22-bit fixed-point coefficients; sums start at 2^21 (the rounding
;; half), are shifted right by 22 and saturated to 0..255 by the two narrowing steps, which is
;; exactly Pillow's clip8. Built into resample-wasm.ts by build-wasm.ts (see there).
(module
  (memory (export "memory") 1)

  ;; Vertical pass. For output row yy: taps at src + rows[2yy] + t*stride, count rows[2yy+1],
  ;; weights w[yy*ksize + t]. rowW (bytes per row) must be >= 16: the last block of a row is
  ;; taken at rowW-16 (overlapping, recomputing a few bytes).
  (func (export "vpass")
    (param $src i32) (param $stride i32) (param $dst i32) (param $rowW i32) (param $outH i32)
    (param $rows i32) (param $w i32) (param $ksize i32)
    (local $yy i32) (local $x i32) (local $t i32) (local $n i32) (local $r0 i32) (local $wp i32)
    (local $p i32) (local $v v128) (local $lo v128) (local $hi v128) (local $wv v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $half v128)
    (local $out i32) (local $xs i32)
    (local.set $half (i32x4.splat (i32.const 2097152)))
    (block $done_y
      (loop $loop_y
        (br_if $done_y (i32.ge_u (local.get $yy) (local.get $outH)))
        (local.set $r0 (i32.add (local.get $src)
          (i32.load (i32.add (local.get $rows) (i32.shl (local.get $yy) (i32.const 3))))))
        (local.set $n (i32.load (i32.add (local.get $rows)
          (i32.add (i32.shl (local.get $yy) (i32.const 3)) (i32.const 4)))))
        (local.set $wp (i32.add (local.get $w)
          (i32.shl (i32.mul (local.get $yy) (local.get $ksize)) (i32.const 2))))
        (local.set $out (i32.add (local.get $dst) (i32.mul (local.get $yy) (local.get $rowW))))
        (local.set $x (i32.const 0))
        (block $done_x
          (loop $loop_x
            (br_if $done_x (i32.ge_u (local.get $x) (local.get $rowW)))
            ;; the block start, clamped so that the last block ends at the row's end
            (local.set $xs (select (local.get $x) (i32.sub (local.get $rowW) (i32.const 16))
              (i32.le_u (i32.add (local.get $x) (i32.const 16)) (local.get $rowW))))
            (local.set $a0 (local.get $half))
            (local.set $a1 (local.get $half))
            (local.set $a2 (local.get $half))
            (local.set $a3 (local.get $half))
            (local.set $p (i32.add (local.get $r0) (local.get $xs)))
            (local.set $t (i32.const 0))
            (block $done_t
              (loop $loop_t
                (br_if $done_t (i32.ge_u (local.get $t) (local.get $n)))
                (local.set $v (v128.load (local.get $p)))
                (local.set $wv (i32x4.splat (i32.load (i32.add (local.get $wp)
                  (i32.shl (local.get $t) (i32.const 2))))))
                (local.set $lo (i16x8.extend_low_i8x16_u (local.get $v)))
                (local.set $hi (i16x8.extend_high_i8x16_u (local.get $v)))
                (local.set $a0 (i32x4.add (local.get $a0)
                  (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $lo)) (local.get $wv))))
                (local.set $a1 (i32x4.add (local.get $a1)
                  (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $lo)) (local.get $wv))))
                (local.set $a2 (i32x4.add (local.get $a2)
                  (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $hi)) (local.get $wv))))
                (local.set $a3 (i32x4.add (local.get $a3)
                  (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $hi)) (local.get $wv))))
                (local.set $p (i32.add (local.get $p) (local.get $stride)))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $loop_t)))
            (v128.store (i32.add (local.get $out) (local.get $xs))
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_s
                  (i32x4.shr_s (local.get $a0) (i32.const 22))
                  (i32x4.shr_s (local.get $a1) (i32.const 22)))
                (i16x8.narrow_i32x4_s
                  (i32x4.shr_s (local.get $a2) (i32.const 22))
                  (i32x4.shr_s (local.get $a3) (i32.const 22)))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (br $loop_x)))
        (local.set $yy (i32.add (local.get $yy) (i32.const 1)))
        (br $loop_y))))

  ;; Horizontal pass over `rows` rows of RGB (3 bytes per pixel). For output pixel j:
  ;; source byte offset starts[j] within the row, taps counts[j], weights w[j*ksize + t].
  ;; Reads and writes 4 bytes per pixel (RGB + one spare): the buffers need 4 bytes of slack
  ;; at their ends, and the outputs must be written left to right (they are).
  (func (export "hpass")
    (param $src i32) (param $stride i32) (param $rows i32) (param $dst i32) (param $outW i32)
    (param $starts i32) (param $counts i32) (param $w i32) (param $ksize i32)
    (local $yy i32) (local $j i32) (local $t i32) (local $n i32) (local $row i32) (local $p i32)
    (local $wp i32) (local $out i32) (local $acc v128) (local $half v128) (local $zero v128)
    (local.set $half (i32x4.splat (i32.const 2097152)))
    (local.set $zero (v128.const i32x4 0 0 0 0))
    (block $done_y
      (loop $loop_y
        (br_if $done_y (i32.ge_u (local.get $yy) (local.get $rows)))
        (local.set $row (i32.add (local.get $src) (i32.mul (local.get $yy) (local.get $stride))))
        (local.set $out (i32.add (local.get $dst)
          (i32.mul (local.get $yy) (i32.mul (local.get $outW) (i32.const 3)))))
        (local.set $j (i32.const 0))
        (block $done_j
          (loop $loop_j
            (br_if $done_j (i32.ge_u (local.get $j) (local.get $outW)))
            (local.set $p (i32.add (local.get $row)
              (i32.load (i32.add (local.get $starts) (i32.shl (local.get $j) (i32.const 2))))))
            (local.set $n (i32.load (i32.add (local.get $counts) (i32.shl (local.get $j) (i32.const 2)))))
            (local.set $wp (i32.add (local.get $w)
              (i32.shl (i32.mul (local.get $j) (local.get $ksize)) (i32.const 2))))
            (local.set $acc (local.get $half))
            (local.set $t (i32.const 0))
            (block $done_t
              (loop $loop_t
                (br_if $done_t (i32.ge_u (local.get $t) (local.get $n)))
                (local.set $acc (i32x4.add (local.get $acc)
                  (i32x4.mul
                    (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u
                      (v128.load32_zero (local.get $p))))
                    (i32x4.splat (i32.load (local.get $wp))))))
                (local.set $p (i32.add (local.get $p) (i32.const 3)))
                (local.set $wp (i32.add (local.get $wp) (i32.const 4)))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $loop_t)))
            (v128.store32_lane 0 (local.get $out)
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $acc) (i32.const 22)) (local.get $zero))
                (local.get $zero)))
            (local.set $out (i32.add (local.get $out) (i32.const 3)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $loop_j)))
        (local.set $yy (i32.add (local.get $yy) (i32.const 1)))
        (br $loop_y))))
;; PILToTensor → ConvertImageDtype(float) → Normalize, fused, in float32 as torch computes
  ;; it: (v / 255 − mean_c) / std_c. `consts` holds 6 f32x4 vectors: the means of the channels
  ;; of lanes 0–3, 4–7, 8–11 of a 4-pixel (12-byte) group, then their stds.
  ;; n (bytes) must be a multiple of 12; src needs 4 bytes of slack (16-byte loads).
  (func (export "normalize")
    (param $src i32) (param $dst i32) (param $n i32) (param $consts i32)
    (local $i i32) (local $v v128) (local $lo v128) (local $hi v128) (local $d255 v128)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $s0 v128) (local $s1 v128) (local $s2 v128)
    (local.set $m0 (v128.load (local.get $consts)))
    (local.set $m1 (v128.load offset=16 (local.get $consts)))
    (local.set $m2 (v128.load offset=32 (local.get $consts)))
    (local.set $s0 (v128.load offset=48 (local.get $consts)))
    (local.set $s1 (v128.load offset=64 (local.get $consts)))
    (local.set $s2 (v128.load offset=80 (local.get $consts)))
    (local.set $d255 (f32x4.splat (f32.const 255)))
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $v (v128.load (i32.add (local.get $src) (local.get $i))))
        (local.set $lo (i16x8.extend_low_i8x16_u (local.get $v)))
        (local.set $hi (i16x8.extend_high_i8x16_u (local.get $v)))
        (v128.store (local.get $dst)
          (f32x4.div (f32x4.sub (f32x4.div (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (local.get $lo)))
            (local.get $d255)) (local.get $m0)) (local.get $s0)))
        (v128.store offset=16 (local.get $dst)
          (f32x4.div (f32x4.sub (f32x4.div (f32x4.convert_i32x4_u (i32x4.extend_high_i16x8_u (local.get $lo)))
            (local.get $d255)) (local.get $m1)) (local.get $s1)))
        (v128.store offset=32 (local.get $dst)
          (f32x4.div (f32x4.sub (f32x4.div (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (local.get $hi)))
            (local.get $d255)) (local.get $m2)) (local.get $s2)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 48)))
        (local.set $i (i32.add (local.get $i) (i32.const 12)))
        (br $loop))))
;; PIL's Image.transform(AFFINE, BILINEAR) on RGB (Geometry.c: affine_transform +
  ;; bilinear_filter32RGB): sample at m·(x+½, y+½, 1) in double precision; outside [0,W)×[0,H)
  ;; the fill colour; else the 2×2 neighbourhood clamped at the borders, lerp in x for row y and
  ;; (if it exists) row y+1, lerp in y, truncate. `m` points to 6 f64; `fill` is 0x00BBGGRR.
  (func (export "affine")
    (param $src i32) (param $dst i32) (param $W i32) (param $H i32) (param $m i32) (param $fill i32)
    (local $x i32) (local $y i32) (local $xc f64) (local $yc f64) (local $xin f64) (local $yin f64)
    (local $a0 f64) (local $a1 f64) (local $a2 f64) (local $a3 f64) (local $a4 f64) (local $a5 f64)
    (local $Wf f64) (local $Hf f64) (local $xi i32) (local $yi i32) (local $dx f64) (local $dy f64)
    (local $x0 i32) (local $x1 i32) (local $r0 i32) (local $r1 i32) (local $has1 i32)
    (local $c i32) (local $v1 f64) (local $v2 f64) (local $p f64) (local $o i32) (local $stride i32)
    (local.set $a0 (f64.load (local.get $m)))
    (local.set $a1 (f64.load offset=8 (local.get $m)))
    (local.set $a2 (f64.load offset=16 (local.get $m)))
    (local.set $a3 (f64.load offset=24 (local.get $m)))
    (local.set $a4 (f64.load offset=32 (local.get $m)))
    (local.set $a5 (f64.load offset=40 (local.get $m)))
    (local.set $Wf (f64.convert_i32_s (local.get $W)))
    (local.set $Hf (f64.convert_i32_s (local.get $H)))
    (local.set $stride (i32.mul (local.get $W) (i32.const 3)))
    (local.set $o (local.get $dst))
    (block $done_y
      (loop $loop_y
        (br_if $done_y (i32.ge_s (local.get $y) (local.get $H)))
        (local.set $yc (f64.add (f64.convert_i32_s (local.get $y)) (f64.const 0.5)))
        (local.set $x (i32.const 0))
        (block $done_x
          (loop $loop_x
            (br_if $done_x (i32.ge_s (local.get $x) (local.get $W)))
            (local.set $xc (f64.add (f64.convert_i32_s (local.get $x)) (f64.const 0.5)))
            (local.set $xin (f64.add (f64.add (f64.mul (local.get $a0) (local.get $xc))
              (f64.mul (local.get $a1) (local.get $yc))) (local.get $a2)))
            (local.set $yin (f64.add (f64.add (f64.mul (local.get $a3) (local.get $xc))
              (f64.mul (local.get $a4) (local.get $yc))) (local.get $a5)))
            (if (i32.and
                  (i32.and (f64.ge (local.get $xin) (f64.const 0)) (f64.lt (local.get $xin) (local.get $Wf)))
                  (i32.and (f64.ge (local.get $yin) (f64.const 0)) (f64.lt (local.get $yin) (local.get $Hf))))
              (then
                (local.set $xin (f64.sub (local.get $xin) (f64.const 0.5)))
                (local.set $yin (f64.sub (local.get $yin) (f64.const 0.5)))
                (local.set $xi (select (i32.const -1) (i32.trunc_f64_s (local.get $xin))
                  (f64.lt (local.get $xin) (f64.const 0))))
                (local.set $yi (select (i32.const -1) (i32.trunc_f64_s (local.get $yin))
                  (f64.lt (local.get $yin) (f64.const 0))))
                (local.set $dx (f64.sub (local.get $xin) (f64.convert_i32_s (local.get $xi))))
                (local.set $dy (f64.sub (local.get $yin) (f64.convert_i32_s (local.get $yi))))
                (local.set $x0 (i32.mul (select (i32.const 0) (local.get $xi)
                  (i32.lt_s (local.get $xi) (i32.const 0))) (i32.const 3)))
                (local.set $x1 (i32.mul (select (i32.add (local.get $xi) (i32.const 1))
                  (i32.sub (local.get $W) (i32.const 1))
                  (i32.lt_s (i32.add (local.get $xi) (i32.const 1)) (local.get $W))) (i32.const 3)))
                (local.set $r0 (i32.add (local.get $src) (i32.mul (select (i32.const 0) (local.get $yi)
                  (i32.lt_s (local.get $yi) (i32.const 0))) (local.get $stride))))
                (local.set $has1 (i32.lt_s (i32.add (local.get $yi) (i32.const 1)) (local.get $H)))
                (local.set $r1 (select
                  (i32.add (local.get $src) (i32.mul (i32.add (local.get $yi) (i32.const 1)) (local.get $stride)))
                  (local.get $r0) (local.get $has1)))
                (local.set $c (i32.const 0))
                (block $done_c
                  (loop $loop_c
                    (br_if $done_c (i32.ge_s (local.get $c) (i32.const 3)))
                    (local.set $p (f64.convert_i32_u (i32.load8_u
                      (i32.add (i32.add (local.get $r0) (local.get $x0)) (local.get $c)))))
                    (local.set $v1 (f64.add (local.get $p) (f64.mul (f64.sub (f64.convert_i32_u (i32.load8_u
                      (i32.add (i32.add (local.get $r0) (local.get $x1)) (local.get $c)))) (local.get $p))
                      (local.get $dx))))
                    (local.set $p (f64.convert_i32_u (i32.load8_u
                      (i32.add (i32.add (local.get $r1) (local.get $x0)) (local.get $c)))))
                    (local.set $v2 (select
                      (f64.add (local.get $p) (f64.mul (f64.sub (f64.convert_i32_u (i32.load8_u
                        (i32.add (i32.add (local.get $r1) (local.get $x1)) (local.get $c)))) (local.get $p))
                        (local.get $dx)))
                      (local.get $v1) (local.get $has1)))
                    (i32.store8 (i32.add (local.get $o) (local.get $c))
                      (i32.trunc_f64_s (f64.add (local.get $v1)
                        (f64.mul (f64.sub (local.get $v2) (local.get $v1)) (local.get $dy)))))
                    (local.set $c (i32.add (local.get $c) (i32.const 1)))
                    (br $loop_c))))
              (else
                (i32.store16 (local.get $o) (local.get $fill))
                (i32.store8 offset=2 (local.get $o) (i32.shr_u (local.get $fill) (i32.const 16)))))
            (local.set $o (i32.add (local.get $o) (i32.const 3)))
            (local.set $x (i32.add (local.get $x) (i32.const 1)))
            (br $loop_x)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $loop_y))))

  ;; Three per-channel 256-entry lookup tables (at $lut, $lut+256, $lut+512) over n RGB bytes.
  (func (export "lut3") (param $src i32) (param $dst i32) (param $n i32) (param $lut i32)
    (local $i i32)
    (block $done
      (loop $loop
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (i32.add (local.get $dst) (local.get $i))
          (i32.load8_u (i32.add (local.get $lut) (i32.load8_u (i32.add (local.get $src) (local.get $i))))))
        (i32.store8 offset=1 (i32.add (local.get $dst) (local.get $i))
          (i32.load8_u offset=256 (i32.add (local.get $lut) (i32.load8_u offset=1 (i32.add (local.get $src) (local.get $i))))))
        (i32.store8 offset=2 (i32.add (local.get $dst) (local.get $i))
          (i32.load8_u offset=512 (i32.add (local.get $lut) (i32.load8_u offset=2 (i32.add (local.get $src) (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 3)))
        (br $loop))))
)
