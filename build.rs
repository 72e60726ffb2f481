//! `cfg(wasm_split)`: set when the browser bundle is built to be split into
//! one chunk per page (`cargo leptos build --split`, which links the wasm
//! with `--emit-relocs`). Without it, the pages are lazy routes whose code
//! ships in the one bundle, so a plain `cargo leptos build` works too.
//! Also: a new migration rebuilds the crate (`sqlx::migrate!` embeds them).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(wasm_split)");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    // `sqlx::migrate!` embeds the migrations: a new one rebuilds the crate.
    println!("cargo::rerun-if-changed=migrations");
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "wasm32");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if wasm && flags.split('\x1f').any(|flag| flag.contains("--emit-relocs")) {
        println!("cargo::rustc-cfg=wasm_split");
    }
}
