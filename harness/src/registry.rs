//! The registry of built-in variants: one line per variant.
//!
//! Adding a variant means a folder under `servers/` (its crate, exporting a [`Variant`];
//! the workspace picks it up by its `servers/*` glob), its dependency line in
//! `harness/Cargo.toml`, and one line here. Nothing else names variants: `harness list`,
//! `harness serve`, `matrix.toml` validation and the tests all read this list.

use server_common::Variant;

/// Every built-in variant, in the order tables list them.
pub const VARIANTS: &[Variant] = &[
    server_uring::VARIANT,
    server_glommio::VARIANT,
    server_smol::VARIANT,
    server_tokio::VARIANT,
    server_monoio::VARIANT,
    server_threaded::THREAD_PER_CONNECTION,
    server_threaded::THREAD_POOL,
    server_floor_epoll::VARIANT,
    server_floor_uring::VARIANT,
];

/// The variant called `name`.
pub fn find(name: &str) -> Option<&'static Variant> {
    VARIANTS.iter().find(|variant| variant.name == name)
}

/// The locked version of a built-in's runtime crate (`tokio@1.48.0`), or the compiler's for
/// the standard library's threads.
pub fn runtime_version(variant: &Variant) -> Option<String> {
    let name = variant.runtime;
    if name.starts_with("std") {
        return Some(env!("HARNESS_RUSTC_VERSION").to_owned());
    }
    env!("HARNESS_RUNTIME_VERSIONS")
        .split(',')
        .find(|entry| entry.split('@').next() == Some(name))
        .map(str::to_owned)
}

/// The names of all variants, for messages.
pub fn names() -> String {
    VARIANTS.iter().map(|variant| variant.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_have_versions() {
        for variant in VARIANTS.iter().filter(|v| !v.runtime.starts_with("none")) {
            let version = runtime_version(variant);
            assert!(
                version.as_deref().is_some_and(|v| v.chars().any(|c| c.is_ascii_digit())),
                "{}: {version:?}",
                variant.name
            );
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, variant) in VARIANTS.iter().enumerate() {
            assert!(VARIANTS[i + 1..].iter().all(|other| other.name != variant.name), "{}", variant.name);
        }
    }
}
