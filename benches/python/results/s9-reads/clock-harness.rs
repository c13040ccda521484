use std::hint::black_box;
#[inline(never)]
fn measured_std(n: usize) -> i64 { let mut s = 0i64; for _ in 0..n { let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default(); s = s.wrapping_add(black_box(d.as_nanos() as i64)); } s }
#[inline(never)]
fn measured_libc(n: usize) -> i64 { let mut s = 0i64; for _ in 0..n { let mut t = std::mem::MaybeUninit::<[i64;2]>::uninit(); unsafe { clock_gettime(0, t.as_mut_ptr().cast()); } let t = unsafe { t.assume_init() }; s = s.wrapping_add(black_box(t[0] * 1_000_000_000 + t[1])); } s }
extern "C" { fn clock_gettime(clk: i32, tp: *mut i64) -> i32; }
fn main() { let a: Vec<String> = std::env::args().collect(); let n = 100000; let t = std::time::Instant::now(); let s = if a[1] == "std" { measured_std(n) } else { measured_libc(n) }; println!("{} {:.1} ns", s % 7, t.elapsed().as_nanos() as f64 / n as f64); }
