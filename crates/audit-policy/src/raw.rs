//! The policy file's shape as TOML, before any value is checked.
//!
//! Every value is `Spanned` so that validation can name its line. Unknown keys are refused
//! at both levels: a misspelt `read_olny` must stop the load, not drop a restriction.

use serde::Deserialize;
use toml::Spanned;

/// A list whose elements each keep their own place in the file.
pub(crate) type List = Spanned<Vec<Spanned<String>>>;

/// The whole file: `[[rule]]` tables, nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    #[serde(default)]
    pub(crate) rule: Vec<RawRule>,
}

/// One `[[rule]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub(crate) name: Spanned<String>,
    pub(crate) sessions: List,
    pub(crate) servers: Option<List>,
    pub(crate) allow: Option<List>,
    pub(crate) read_only: Option<List>,
    pub(crate) origins: Option<List>,
    pub(crate) action: Option<Spanned<String>>,
    pub(crate) enabled: Option<bool>,
}
