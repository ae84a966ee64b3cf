;; dst[i] += src[i] over n float32s, four lanes at a time (WebAssembly SIMD), for the ring
;; all-reduce's additions (trainer/comm/sum.ts copies the operands in and the sum out).
;; f32x4.add rounds each lane like a scalar float32 addition, so the result is bit-identical
;; to the JavaScript loop.
(module
  (memory (export "memory") 1)
  (func (export "add") (param $dst i32) (param $src i32) (param $n i32)
    (local $end i32)
    (local $end4 i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.sub (local.get $end) (i32.const 15)))
    (block $done4
      (loop $four
        (br_if $done4 (i32.ge_s (local.get $dst) (local.get $end4)))
        (v128.store
          (local.get $dst)
          (f32x4.add (v128.load (local.get $dst)) (v128.load (local.get $src))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (br $four)))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (f32.store
          (local.get $dst)
          (f32.add (f32.load (local.get $dst)) (f32.load (local.get $src))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (br $one)))))
