//! The loaded policy and its three uses: load it, check a client, name it in the record.

use std::fs;
use std::path::Path;

use crate::accounts::{Accounts, SystemAccounts};
use crate::check::{self, ClientAccess, Verdict};
use crate::error::PolicyError;
use crate::parse::{self, Loaded};
use crate::rule::Rule;

/// A whole, valid policy: its rules in the order written, and the digest of the text they came
/// from. Only [`Policy::parse`] and [`Policy::load`] make one, so the digest always describes
/// the rules.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) rules: Vec<Rule>,
    pub(crate) file: String,
    pub(crate) digest: String,
}

impl Policy {
    /// Parses policy text; `file` names it in errors and warnings. Warnings about unknown users
    /// and groups come from the system's database.
    pub fn parse(text: &str, file: &str) -> Result<Loaded, PolicyError> {
        Policy::parse_with(text, file, &SystemAccounts::new())
    }

    /// [`Policy::parse`] with another user and group database for the warnings.
    pub fn parse_with(
        text: &str,
        file: &str,
        accounts: &dyn Accounts,
    ) -> Result<Loaded, PolicyError> {
        parse::parse(text, file, accounts)
    }

    /// Reads and parses the policy file at `path`.
    pub fn load(path: &Path) -> Result<Loaded, PolicyError> {
        let text = fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Policy::parse(&text, &path.display().to_string())
    }

    /// Every violation of every enabled rule that covers `client`, and the strongest action.
    pub fn check(&self, client: &ClientAccess<'_>, accounts: &dyn Accounts) -> Verdict {
        check::check(&self.rules, client, accounts)
    }

    /// The rules, in the order written (disabled ones included).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The file name the policy was parsed under.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// BLAKE3 (hex) of the exact source text, so a record can say which policy was in force.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}
