//! Exposes pyo3's interpreter cfgs (notably `Py_GIL_DISABLED` for
//! free-threaded CPython) to this crate, and warns when the build lost the
//! reference-pool flags of `.cargo/config.toml`; sets `timelog_pgo` on a
//! profile-guided build (`-Cprofile-use`, scripts/pgo.py), which the module
//! reports as `_build["pgo"]`.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    // `.cargo/config.toml` builds pyo3 without its global reference pool
    // (see the comment there). A RUSTFLAGS (or CARGO_ENCODED_RUSTFLAGS)
    // variable replaces `build.rustflags`: the extension is then still
    // correct, but every entry point may lock pyo3's pool mutex. Cargo
    // hands the effective flags to build scripts.
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let has = |cfg: &str| flags.split('\x1f').any(|f| f == cfg || f == format!("--cfg={cfg}"));
    let set = has("pyo3_disable_reference_pool") && has("pyo3_leak_on_drop_without_reference_pool");
    // A profile-guided build: the wheels scripts/pgo.py builds.
    println!("cargo::rustc-check-cfg=cfg(timelog_pgo)");
    if flags.split('\x1f').any(|f| f.starts_with("-Cprofile-use=") || f.starts_with("profile-use=")) {
        println!("cargo::rustc-cfg=timelog_pgo");
    }
    if !set {
        println!(
            "cargo:warning=building timelog without `--cfg pyo3_disable_reference_pool --cfg \
             pyo3_leak_on_drop_without_reference_pool` (RUSTFLAGS replaces .cargo/config.toml's \
             build.rustflags): correct, but free-threaded readers may contend on pyo3's reference \
             pool; add both flags to RUSTFLAGS (timelog._timelog._pyo3_reference_pool reports it)"
        );
    }
}
