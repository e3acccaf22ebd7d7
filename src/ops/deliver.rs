//! `deliver`: hand a configured device to its person. Records a different desk than
//! assigned, writes their handoff sheet (Markdown, HTML and, when a browser can print it,
//! PDF) and moves the device to `delivered` with its journal row and its handoff (the
//! sheet's version and digest; accepted at once with `--accepted-by`); every step already
//! done is undone, in one place (an [`UndoStack`]), when a later one fails. Never prints.

use std::path::PathBuf;

use super::assign::{assignment, set_assignment, undo_assignment};
use super::undo::UndoStack;
use super::{Env, Error, guard, hold, known_device};
use crate::handoff::{self, Delivery};
use crate::model::{MoveRefused, Person, Stage};
use crate::owned;
use crate::store::{Entry, Purpose};

#[derive(Debug, Clone)]
pub struct DeliverSettings {
    pub device: String,
    /// Where it was handed over, when not the desk it was assigned to.
    pub desk: Option<String>,
    /// The paper the PDF of the sheet is printed on.
    pub paper: handoff::pdf::Paper,
    /// The person received it and the sheet there and then (`--accepted-by NAME`).
    pub accepted_by: Option<String>,
}

/// What was done.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub device: String,
    pub person: Person,
    pub desk: Option<String>,
    /// When, RFC 3339.
    pub at: String,
    pub sheet_markdown: PathBuf,
    pub sheet_html: PathBuf,
    /// The PDF beside the HTML, when a browser printed it.
    pub sheet_pdf: Option<PathBuf>,
    /// Why there is no PDF (the delivery itself is done).
    pub pdf_problem: Option<String>,
    /// The titles of the getting-started guides on the sheet.
    pub guides: Vec<String>,
    /// The handoff on record: the sheet's version and digest, and its acceptance.
    pub handoff: crate::store::Handoff,
}

/// When `tag` was last assigned in a way that changes what a configure writes (`assign`
/// marks it), if that was after its last configure that succeeded (or it has none): what
/// it was configured with is not its assignment any more.
fn assigned_since_configured(
    store: &crate::store::Store,
    tag: &str,
) -> Result<Option<String>, Error> {
    let journal = store.history(tag)?;
    let Some(at) = journal.iter().rposition(|e| {
        e.kind == "assigned" && e.subject.as_deref() == Some(super::assign::CONFIGURE_AGAIN)
    }) else {
        return Ok(None);
    };
    let last = store
        .last_configures()?
        .into_iter()
        .find(|c| c.device == tag && c.succeeded());
    let configured_after =
        last.is_some_and(|c| journal[at + 1..].iter().any(|e| e.run_id == Some(c.run)));
    Ok((!configured_after).then(|| crate::time::local_at(&journal[at].at)))
}

pub fn deliver(env: &Env, s: &DeliverSettings) -> Result<Delivered, Error> {
    if let Some(desk) = &s.desk {
        guard::one_line("--desk", desk)?;
    }
    let site = env.load_site()?;
    let d = known_device(&site, &s.device)?;
    let store = env.open_store()?;
    let _held = hold(env, &store, &d.tag, Purpose::Deliver)?;
    let from = store.stage(&d.tag)?.map(|r| r.stage);
    if !Stage::can_move(from, Stage::Delivered) {
        return Err(MoveRefused::new(&d.tag, from, Stage::Delivered)
            .receive_first()
            .configure_first()
            .into());
    }
    let accepted_by = match s.accepted_by.as_deref().map(str::trim) {
        Some("") => {
            return Err(Error::BadInput(
                "--accepted-by needs the name of the person who received it".into(),
            ));
        }
        other => other,
    };
    let Some(person) = d.assignee.clone() else {
        return Err(Error::Refused(format!(
            "{} has no assignee; assign it first: deskready assign {} --to PERSON --desk DESK",
            d.tag, d.tag
        )));
    };
    if let Some(when) = assigned_since_configured(&store, &d.tag)? {
        return Err(Error::Refused(format!(
            "{} was assigned (to {}) at {when}, after its last configure: its login, owner card and files are still the previous assignment's; configure it again first: deskready configure {}",
            d.tag, person.name, d.tag
        )));
    }
    let mut undo = UndoStack::new();
    // A different desk than assigned is recorded as the device's desk from now on.
    let new_desk = s
        .desk
        .as_ref()
        .filter(|desk| d.location.desk.as_deref() != Some(desk.as_str()));
    let checked = match new_desk {
        Some(_) => guard::before(env, &site, &[&d.tag]),
        None => guard::Before::default(),
    };
    let mut site = site;
    if let Some(desk) = new_desk {
        let desk = guard::one_line("--desk", desk)?;
        let (before, _) =
            set_assignment(env, &store, &s.device, Some(assignment(&person, &desk)?))?;
        undo_assignment(&mut undo, env, &store, before);
        site = env.load_site()?;
        guard::still_render(env, &site, &[&s.device], &checked)?;
    }
    let d = known_device(&site, &s.device)?;
    // The sheet needs the device's variables, not its content: secrets stay stand-ins.
    let stand_ins = crate::secrets::Secrets::placeholders(&site);
    let resolved =
        crate::resolve::resolve_with(&site, &d.tag, &env.vars, &stand_ins).map_err(Error::Site)?;
    let at = crate::store::now();
    let tz = resolved.vars.get("timezone").and_then(|v| v.as_str());
    // The lock is held: nobody else records a handoff of this device meanwhile.
    let version = store.handoffs(&d.tag)?.len() + 1;
    let delivery = Delivery {
        local: handoff::local_time(&at, tz),
        at,
        by: env.operator.clone(),
        desk: d.location.desk.clone(),
        sheet_version: version,
    };
    let sheet = handoff::render(&site, &resolved, &delivery).map_err(Error::BadInput)?;
    let dir = site.state_dir().join("handoff");
    let md = dir.join(format!("{}.md", d.tag));
    let html = dir.join(format!("{}.html", d.tag));
    let pdf = dir.join(format!("{}.pdf", d.tag));
    for path in [&md, &html, &pdf] {
        let old = std::fs::read(path).ok();
        let path = path.clone();
        undo.push(move || {
            let _ = match old {
                Some(bytes) => owned::write_atomic(&path, &bytes),
                None => std::fs::remove_file(&path),
            };
        });
    }
    let markdown = sheet.markdown_in(&site.root, &dir);
    for (path, text) in [(&md, &markdown), (&html, &sheet.html)] {
        owned::write_atomic(path, text.as_bytes())?;
    }
    // A sheet without its PDF is still a sheet: the reason is reported, not fatal.
    let _ = std::fs::remove_file(&pdf);
    let pdf_problem = handoff::pdf::print(&sheet.html, &pdf, s.paper)
        .err()
        .map(|e| e.to_string());
    let digest = sheet_digest(&sheet.html);
    let msg = format!(
        "delivered to {} at desk {}; handoff sheet {} (v{version}, {})",
        person.name,
        delivery.desk.as_deref().unwrap_or("?"),
        md.display(),
        short(&digest)
    );
    let mut rows = vec![Entry::new(&d.tag, &env.operator, "delivered").message(&msg)];
    if let Some(by) = accepted_by {
        rows.push(
            Entry::new(&d.tag, &env.operator, "accepted")
                .subject(format!("sheet v{version}"))
                .message(format!(
                    "accepted by {by} at delivery (sheet v{version}, {})",
                    short(&digest)
                )),
        );
    }
    let handoff = store.deliver(
        &d.tag,
        &env.operator,
        &person.name,
        &digest,
        accepted_by,
        &rows,
    )?;
    undo.commit();
    Ok(Delivered {
        device: d.tag.clone(),
        person,
        desk: delivery.desk,
        at: delivery.at,
        sheet_markdown: md,
        sheet_html: html,
        sheet_pdf: pdf_problem.is_none().then_some(pdf),
        pdf_problem,
        guides: sheet.guides.iter().map(|g| g.title.clone()).collect(),
        handoff,
    })
}

/// SHA-256 of a sheet, hex: what an acceptance refers to.
pub fn sheet_digest(html: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(html.as_bytes()))
}

/// `sha256:` and the first 12 hex digits of a digest, as the journal shows it.
pub fn short(digest: &str) -> String {
    format!("sha256:{}", &digest[..digest.len().min(12)])
}
