//! A new migration rebuilds the crate (`sqlx::migrate!` embeds them).
//!
//! And the server's code layout: a release build for x86-64 Linux (linked
//! by rust-lld, Rust's default there since 1.90) places the functions of
//! `link/symbol-order.txt`, the ones the server runs, together (see
//! `scripts/symbol-order.sh`). `GATEHOUSE_NO_SYMBOL_ORDER=1` links without
//! it (for another linker).

fn main() {
    // `sqlx::migrate!` embeds the migrations: a new one rebuilds the crate.
    println!("cargo::rerun-if-changed=migrations");
    symbol_order();
}

fn symbol_order() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let linux_x86 = var("TARGET") == "x86_64-unknown-linux-gnu";
    if linux_x86 {
        // Not for the browser bundle: a new list relinks the server only.
        println!("cargo::rerun-if-changed=link/symbol-order.txt");
        println!("cargo::rerun-if-env-changed=GATEHOUSE_NO_SYMBOL_ORDER");
    }
    let release = var("PROFILE") == "release";
    let off = !var("GATEHOUSE_NO_SYMBOL_ORDER").is_empty();
    let file = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("link/symbol-order.txt");
    if release && linux_x86 && !off && file.is_file() {
        println!(
            "cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            file.display()
        );
        // Functions of the list that are not in this build (renamed,
        // removed) are skipped without a word.
        println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        // The position-independent binary's relocations in the compact
        // RELR form (glibc 2.36+, Debian 12's): 1.4 MB of `.rela.dyn` that
        // the loader reads at every start become a few KB.
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
