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
)
