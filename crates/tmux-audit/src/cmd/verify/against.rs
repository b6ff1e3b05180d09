//! `verify --against LOCATION`: this host's store compared with its copy at the center.

use crate::common::Global;
use crate::render;
use anyhow::Result;
use audit_store::{Access, Location};
use audit_views::compare::{compare, Comparison};
use serde_json::json;
use std::process::ExitCode;

/// Compares the store with `against` (on a central store: the chain of `--host`, else of this
/// host's `host_name`) and says whether the center holds this history unchanged.
pub fn run(global: &Global, against: &Location, json: bool) -> Result<ExitCode> {
    let location = global.location()?;
    let local = audit_store::open(&location, Access::ReadOnly)?;
    let host = global
        .host
        .clone()
        .unwrap_or_else(crate::config::view_host_name);
    let center = audit_store::open(&against.on_host(&host), Access::ReadOnly)?;
    let found = compare(local.as_ref(), center.as_ref())?;
    let (local_n, center_n) = match found {
        Comparison::Empty => (0, 0),
        Comparison::Agree { local, center }
        | Comparison::LocalShorter { local, center, .. }
        | Comparison::Fork { local, center, .. } => (local, center),
    };
    let line = match &found {
        Comparison::Empty => "neither store holds a record yet".to_owned(),
        Comparison::Agree { local, center } if local == center => {
            format!("intact: the center holds all {local} records of this store, identical")
        }
        Comparison::Agree { local, center } => format!(
            "intact: the center holds records 1..{center} of this store's {local}, identical; {} not shipped yet",
            local - center
        ),
        Comparison::LocalShorter {
            local,
            center,
            prefix_agrees,
        } => format!(
            "TAMPERED: the center holds {center} records of host {}, this store only {local}: records were removed here after they were shipped{}",
            render::escape(&host),
            if *prefix_agrees { "" } else { " (and the records both hold differ)" }
        ),
        Comparison::Fork { seq, .. } => format!(
            "TAMPERED: from seq {seq} on, this store holds other records than the center received from host {}: history rewritten after shipping",
            render::escape(&host)
        ),
    };
    if json {
        let fork = match found {
            Comparison::Fork { seq, .. } => Some(seq),
            _ => None,
        };
        render::json_line(
            &mut std::io::stdout().lock(),
            &json!({
                "status": if found.is_tampered() { "tampered" } else { "intact" },
                "store": location.to_string(),
                "against": against.to_string(),
                "host": host,
                "local_records": local_n,
                "center_records": center_n,
                "fork_seq": fork,
            }),
        )?;
    } else {
        println!("{line}");
    }
    Ok(if found.is_tampered() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
