//! The version of the browser assets (the WASM bundle, its loader, the stylesheet): a digest
//! of the files in the site's `pkg` folder, read once. Pages load them under
//! `/v/<version>/pkg/…`, which browsers may keep for good, since a new build has a new
//! version.

use leptos::prelude::LeptosOptions;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The folder the assets are served from.
pub fn dir(options: &LeptosOptions) -> PathBuf {
    PathBuf::from(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref())
}

/// What is wrong with the built assets, if anything: pages are split into WASM chunks
/// (`cargo leptos build --split`); a bundle built without splitting cannot load them, so
/// pages would stay server-rendered only.
pub fn problem(options: &LeptosOptions) -> Option<String> {
    let dir = dir(options);
    let bundle = dir.join(format!("{}.wasm", options.output_name));
    if !bundle.is_file() {
        return Some(format!(
            "{} is missing: build with `cargo leptos build --release --split`; pages are served without their scripts",
            bundle.display()
        ));
    }
    (!dir.join("__wasm_split_manifest.json").is_file()).then(|| {
        format!(
            "{} was built without `--split`: pages cannot load their code. Build with `cargo leptos build --release --split`",
            bundle.display()
        )
    })
}

/// The version of the assets this process serves (16 hex digits; the same for every
/// request until the process is restarted on a new build).
pub fn version(options: &LeptosOptions) -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir(options))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let mut digest = Sha256::new();
        for file in files {
            digest.update(file.file_name().unwrap_or_default().as_encoded_bytes());
            digest.update(std::fs::read(&file).unwrap_or_default());
        }
        hex::encode(&digest.finalize()[..8])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_built_without_splitting_is_named_as_the_problem() {
        let root = std::env::temp_dir().join(format!("keyport-assets-{}", std::process::id()));
        let options = LeptosOptions::builder()
            .output_name("keyport")
            .site_root(root.to_string_lossy().to_string())
            .site_pkg_dir("pkg")
            .build();
        let pkg = dir(&options);
        std::fs::create_dir_all(&pkg).unwrap();
        assert!(problem(&options).unwrap().contains("is missing"));
        std::fs::write(pkg.join("keyport.wasm"), b"\0asm").unwrap();
        assert!(problem(&options).unwrap().contains("without `--split`"));
        std::fs::write(pkg.join("__wasm_split_manifest.json"), b"{}").unwrap();
        assert_eq!(problem(&options), None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
