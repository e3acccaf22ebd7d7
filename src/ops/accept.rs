//! `accept`: the person confirms they received the device and its handoff sheet. Recorded
//! on the device's newest handoff (with the sheet's version and digest) and in its journal;
//! a signature file, when given, is kept beside the sheet with its digest. Refused for a
//! device that is not at its person's desk, or whose sheet was already accepted. Never
//! prints.

use std::path::PathBuf;

use super::deliver::short;
use super::{Env, Error, hold, known_device};
use crate::model::stage_name;
use crate::owned;
use crate::store::{Entry, Handoff, Purpose};

#[derive(Debug, Clone)]
pub struct AcceptSettings {
    pub device: String,
    /// Who received it.
    pub by: String,
    /// A scan or picture of their signature.
    pub signature: Option<PathBuf>,
}

/// What was recorded.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub handoff: Handoff,
    /// Where the signature was kept.
    pub signature: Option<PathBuf>,
    /// Its assignee, when someone else accepted it (on their behalf, say): recorded as
    /// given, and said.
    pub not_assignee: Option<String>,
}

pub fn accept(env: &Env, s: &AcceptSettings) -> Result<Accepted, Error> {
    let by = s.by.trim();
    if by.is_empty() {
        return Err(Error::BadInput(
            "--by needs the name of the person who received it".into(),
        ));
    }
    let site = env.load_site()?;
    let d = known_device(&site, &s.device)?;
    let signature = match &s.signature {
        None => None,
        Some(p) => Some((
            p,
            std::fs::read(p).map_err(|e| {
                Error::BadInput(format!("cannot read the signature {}: {e}", p.display()))
            })?,
        )),
    };
    let store = env.open_store()?;
    let _held = hold(env, &store, &d.tag, Purpose::Accept)?;
    let stage = store.stage(&d.tag)?.map(|r| r.stage);
    if !store.at_desk(&d.tag)? {
        return Err(Error::Refused(format!(
            "{} is not delivered (it is {}); only a device handed over with its sheet can be accepted: deskready deliver {}",
            d.tag,
            stage_name(stage),
            d.tag
        )));
    }
    let Some(h) = store
        .handoffs(&d.tag)?
        .pop()
        .filter(|h| h.returned_at.is_none())
    else {
        return Err(Error::Refused(format!(
            "{} has no handoff sheet on record (it was delivered by an older deskready); there is no sheet to accept",
            d.tag
        )));
    };
    if let (Some(who), Some(when)) = (&h.accepted_by, &h.accepted_at) {
        return Err(Error::Refused(format!(
            "{}'s handoff sheet v{} was already accepted by {who} at {}",
            d.tag,
            h.version,
            crate::time::local(when)
        )));
    }
    // The signature is kept beside the sheet, named after the device and the sheet.
    let mut kept = None;
    let mut sig_digest = None;
    if let Some((path, bytes)) = &signature {
        use sha2::Digest as _;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| format!(".{}", e.to_ascii_lowercase()))
            .unwrap_or_default();
        let to = site
            .state_dir()
            .join("handoff")
            .join(format!("{}.v{}.signature{ext}", d.tag, h.version));
        owned::write_atomic(&to, bytes)?;
        sig_digest = Some(hex::encode(sha2::Sha256::digest(bytes)));
        kept = Some(to);
    }
    let mut msg = format!(
        "accepted by {by} (sheet v{}, {})",
        h.version,
        short(&h.sheet_digest)
    );
    if let Some(dg) = &sig_digest {
        msg.push_str(&format!("; signature {}", short(dg)));
    }
    let not_assignee = d
        .assignee
        .as_ref()
        .map(|p| p.name.clone())
        .filter(|name| !name.trim().eq_ignore_ascii_case(by));
    if let Some(name) = &not_assignee {
        msg.push_str(&format!("; not its assignee, {name}"));
    }
    let entry = Entry::new(&d.tag, &env.operator, "accepted")
        .subject(format!("sheet v{}", h.version))
        .message(msg);
    match store.accept(&d.tag, by, sig_digest.as_deref(), &entry)? {
        Some(handoff) => Ok(Accepted {
            handoff,
            signature: kept,
            not_assignee,
        }),
        None => {
            if let Some(p) = &kept {
                let _ = std::fs::remove_file(p);
            }
            Err(Error::Refused(format!(
                "{}'s handoff sheet v{} is no longer open for acceptance",
                d.tag, h.version
            )))
        }
    }
}
