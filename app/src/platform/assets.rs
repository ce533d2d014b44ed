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
