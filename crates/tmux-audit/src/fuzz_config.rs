//! The check the `config` fuzz target runs, and the test that replays its corpus.
//!
//! The config parser lives in this binary crate; the fuzz target (`fuzz/fuzz_targets/config.rs`)
//! compiles `config.rs` and this file into itself by path, so both run exactly this code.

use std::path::Path;

use audit_forward::SinkKind;

use crate::config;

/// One config file's text: a file is read whole or refused, the refusal names the file and a
/// real `LINE:COL`, and a webhook sink read from it is shown without its credentials or query.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let settings = match config::parse(&text, Path::new("config.toml")) {
        Ok(s) => s,
        Err(e) => {
            let rest = e
                .message
                .strip_prefix("config.toml:")
                .expect("names the file");
            let mut place = rest.splitn(3, ':');
            let mut number = || place.next().and_then(|n| n.parse::<usize>().ok());
            let (line, col) = (number(), number());
            let lines = text.split('\n').count();
            assert!(
                matches!((line, col), (Some(l), Some(c)) if l >= 1 && l <= lines && c >= 1),
                "{e} does not point into the text"
            );
            return;
        }
    };
    let _ = format!("{settings:?}");
    for sink in settings.sink.iter().flatten() {
        if let SinkKind::Webhook { url, .. } = &sink.kind {
            // Debug is the redacted form, escaped as Debug escapes any string (a combining mark
            // such as U+0659 comes out as `\u{659}`: the fuzzer's one finding here, in this check).
            let shown = format!("{url:?}");
            let redacted = url.redacted();
            assert_eq!(shown, format!("WebhookUrl({redacted:?})"));
            assert!(!redacted.contains('?'), "{shown} shows its query");
            let authority = redacted.split("://").nth(1).unwrap_or("");
            let authority = authority.split('/').next().unwrap_or("");
            assert!(!authority.contains('@'), "{shown} shows credentials");
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every seed and every input the config fuzzer kept (`fuzz/seeds/config`,
    /// `fuzz/corpus/config`) passes [`super::config`].
    #[test]
    fn config_corpus_replays_clean() {
        for dir in ["seeds", "corpus"] {
            let dir = format!("{}/../../fuzz/{dir}/config", env!("CARGO_MANIFEST_DIR"));
            let mut n = 0;
            for entry in std::fs::read_dir(&dir).expect("the config corpus is in the repository") {
                let path = entry.expect("listing the corpus").path();
                super::config(&std::fs::read(&path).expect("reading a corpus file"));
                n += 1;
            }
            assert!(n > 0, "{dir} is empty");
        }
    }
}
