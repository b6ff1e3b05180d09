//! From policy text to a [`Policy`]: TOML first, then every value checked with its place.

use std::collections::HashMap;
use std::ops::Range;

use glob::Pattern;
use toml::Spanned;

use crate::accounts::Accounts;
use crate::action::Action;
use crate::error::{PolicyError, Reason, Warning, WarningKind};
use crate::origin::OriginPattern;
use crate::position::line_col;
use crate::raw::{List, RawPolicy, RawRule};
use crate::rule::{Principal, Rule};
use crate::Policy;

/// A policy that loaded, and what looked suspicious in it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The policy, whole.
    pub policy: Policy,
    /// Entries naming users or groups this system does not have (yet).
    pub warnings: Vec<Warning>,
}

/// Where the text came from, to turn spans into `FILE:LINE:COL`.
struct Source<'a> {
    text: &'a str,
    file: &'a str,
}

impl Source<'_> {
    fn error(&self, span: Range<usize>, reason: Reason) -> PolicyError {
        let (line, col) = line_col(self.text, span.start);
        PolicyError::Invalid {
            file: self.file.to_owned(),
            line,
            col,
            reason,
        }
    }

    fn warning(&self, span: Range<usize>, kind: WarningKind) -> Warning {
        let (line, col) = line_col(self.text, span.start);
        Warning {
            file: self.file.to_owned(),
            line,
            col,
            kind,
        }
    }
}

pub(crate) fn parse(
    text: &str,
    file: &str,
    accounts: &dyn Accounts,
) -> Result<Loaded, PolicyError> {
    let src = Source { text, file };
    let raw: RawPolicy = toml::from_str(text).map_err(|e| {
        // Errors about the document as a whole come without a span: point at its start.
        let span = e.span().unwrap_or(0..0);
        src.error(span, Reason::Toml(e.message().trim_end().to_owned()))
    })?;
    let mut warnings = Vec::new();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    let mut rules = Vec::with_capacity(raw.rule.len());
    for raw_rule in raw.rule {
        let span = raw_rule.name.span();
        let name = raw_rule.name.get_ref().trim().to_owned();
        let line = line_col(text, span.start).0;
        if name.is_empty() {
            return Err(src.error(span, Reason::EmptyName));
        }
        if let Some(&first_line) = first_line.get(&name) {
            return Err(src.error(span, Reason::DuplicateName { name, first_line }));
        }
        first_line.insert(name.clone(), line);
        rules.push(rule(&src, raw_rule, name, line, accounts, &mut warnings)?);
    }
    Ok(Loaded {
        policy: Policy {
            rules,
            file: file.to_owned(),
            digest: blake3::hash(text.as_bytes()).to_hex().to_string(),
        },
        warnings,
    })
}

fn rule(
    src: &Source<'_>,
    raw: RawRule,
    name: String,
    line: usize,
    accounts: &dyn Accounts,
    warnings: &mut Vec<Warning>,
) -> Result<Rule, PolicyError> {
    if raw.allow.is_none() && raw.read_only.is_none() {
        return Err(src.error(raw.name.span(), Reason::NoPrincipals(name)));
    }
    let action = match &raw.action {
        None => Action::Alert,
        Some(a) => (a.get_ref().parse::<Action>())
            .map_err(|_| src.error(a.span(), Reason::UnknownAction(a.get_ref().clone())))?,
    };
    let sessions = globs(src, "sessions", raw.sessions)?;
    let servers = raw.servers.map(|s| globs(src, "servers", s)).transpose()?;
    let origins = raw.origins.map(|o| origins(src, o)).transpose()?;
    let allow = principals(src, raw.allow, accounts, warnings)?;
    let read_only = principals(src, raw.read_only, accounts, warnings)?;
    Ok(Rule {
        name,
        line,
        sessions,
        servers,
        allow,
        read_only,
        origins,
        action,
        enabled: raw.enabled.unwrap_or(true),
    })
}

/// A non-empty list, each element checked by `one`.
fn each<T>(
    src: &Source<'_>,
    key: &'static str,
    list: List,
    mut one: impl FnMut(&Spanned<String>) -> Result<T, Reason>,
) -> Result<Vec<T>, PolicyError> {
    if list.get_ref().is_empty() {
        return Err(src.error(list.span(), Reason::EmptyList(key)));
    }
    list.get_ref()
        .iter()
        .map(|item| one(item).map_err(|reason| src.error(item.span(), reason)))
        .collect()
}

fn globs(src: &Source<'_>, key: &'static str, list: List) -> Result<Vec<Pattern>, PolicyError> {
    each(src, key, list, |item| {
        let text = item.get_ref();
        let bad = |why: &str| Reason::BadGlob {
            pattern: text.clone(),
            why: why.to_owned(),
        };
        if text.is_empty() {
            return Err(bad("an empty pattern matches nothing"));
        }
        Pattern::new(text).map_err(|e| bad(e.msg))
    })
}

fn origins(src: &Source<'_>, list: List) -> Result<Vec<OriginPattern>, PolicyError> {
    each(src, "origins", list, |item| {
        OriginPattern::parse(item.get_ref())
            .ok_or_else(|| Reason::BadOrigin(item.get_ref().clone()))
    })
}

/// `allow` or `read_only`: may be absent or empty (nobody), entries must be well formed, and
/// names the system does not know become warnings.
fn principals(
    src: &Source<'_>,
    list: Option<List>,
    accounts: &dyn Accounts,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Principal>, PolicyError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(list.get_ref().len());
    for item in list.get_ref() {
        let entry = Principal::parse(item.get_ref())
            .ok_or_else(|| src.error(item.span(), Reason::BadEntry(item.get_ref().clone())))?;
        let unknown = match &entry {
            Principal::User(u) if !accounts.user_exists(u) => {
                Some(WarningKind::UnknownUser(u.clone()))
            }
            Principal::Group(g) if !accounts.group_exists(g) => {
                Some(WarningKind::UnknownGroup(g.clone()))
            }
            _ => None,
        };
        if let Some(kind) = unknown {
            warnings.push(src.warning(item.span(), kind));
        }
        out.push(entry);
    }
    Ok(out)
}
