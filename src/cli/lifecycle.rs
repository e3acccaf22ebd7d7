//! Moving a device through its life: `assign`, `deliver`, `return`, `repair`, `retire`,
//! and `note` for a remark in its journal.

use std::process::ExitCode;

use serde_yaml::{Mapping, Value};

use super::{Ctx, Failure, Format};
use crate::handoff::{self, Delivery};
use crate::model::{Person, Stage, refusal};
use crate::owned::{self, ASSIGNMENTS};
use crate::store::Entry;

#[derive(Debug, clap::Args)]
pub struct AssignArgs {
    pub device: String,
    /// The person's full name.
    #[arg(long = "to", value_name = "PERSON")]
    pub to: String,
    #[arg(long)]
    pub desk: String,
    /// Their login name (default: first initial and last name, lowercase ASCII).
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DeliverArgs {
    pub device: String,
    /// Where it was handed over, when not the desk it was assigned to.
    #[arg(long)]
    pub desk: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReasonArgs {
    pub device: String,
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, clap::Args)]
pub struct DeviceArg {
    pub device: String,
}

#[derive(Debug, clap::Args)]
pub struct NoteArgs {
    pub device: String,
    /// The remark ("replaced the battery").
    pub text: String,
}

/// "Ada Lovelace" -> "alovelace".
pub fn default_username(name: &str) -> String {
    let words: Vec<String> = name
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    match words.as_slice() {
        [] => "user".into(),
        [one] => one.clone(),
        [first, .., last] => format!("{}{last}", &first[..1]),
    }
}

/// Writes `tag`'s assignment override (or removes it when `assignment` is None), checking
/// the site still loads. Returns the old file's bytes, to put back if a later step fails.
fn set_assignment(
    ctx: &Ctx,
    tag: &str,
    assignment: Option<Mapping>,
) -> Result<Option<Vec<u8>>, Failure> {
    let before = std::fs::read(ctx.site_dir.join(ASSIGNMENTS)).ok();
    let mut map = owned::read_section(&ctx.site_dir, ASSIGNMENTS, "overrides");
    match assignment {
        Some(a) => {
            map.insert(Value::String(tag.into()), Value::Mapping(a));
        }
        None => {
            if map.remove(tag).is_none() {
                return Ok(before);
            }
        }
    }
    owned::edit_checked(&ctx.site_dir, ASSIGNMENTS, &owned::render("overrides", map)).map_err(
        |e| match e {
            owned::EditError::Site(d) => Failure::Site(d),
            other => Failure::Other(other.into()),
        },
    )?;
    Ok(before)
}

fn print(ctx: &Ctx, tag: &str, text: String, json: serde_json::Value) {
    match ctx.format {
        Format::Json => println!("{json}"),
        Format::Text => println!("{tag}: {text}"),
    }
}

pub fn assign(ctx: &Ctx, a: AssignArgs) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    let d = super::known_device(&site, &a.device)?;
    let store = ctx.open_store()?;
    let stage = store.stage(&d.tag)?.map(|r| r.stage);
    if stage == Some(Stage::Retired) {
        return Err(Failure::Refused(format!(
            "{} is retired; a retired device is not assigned",
            d.tag
        )));
    }
    let username = a.username.clone().unwrap_or_else(|| {
        // Keep the login of the same person; make one up for a new person.
        d.assignee
            .as_ref()
            .filter(|p| p.name == a.to)
            .and_then(|p| p.username.clone())
            .unwrap_or_else(|| default_username(&a.to))
    });
    let person = Person {
        name: a.to.clone(),
        username: Some(username.clone()),
        email: a.email.clone().or_else(|| {
            d.assignee
                .as_ref()
                .filter(|p| p.name == a.to)
                .and_then(|p| p.email.clone())
        }),
    };
    let mut m = Mapping::new();
    m.insert(
        "assignee".into(),
        serde_yaml::to_value(&person).map_err(anyhow::Error::from)?,
    );
    m.insert("desk".into(), a.desk.clone().into());
    let before = set_assignment(ctx, &d.tag, Some(m))?;
    let msg = format!("assigned to {} ({username}), desk {}", a.to, a.desk);
    if let Err(e) = store.record(&[Entry::new(&d.tag, &ctx.operator, "assigned").message(&msg)]) {
        owned::restore(&ctx.site_dir, ASSIGNMENTS, before);
        return Err(e.into());
    }
    print(
        ctx,
        &d.tag,
        msg,
        serde_json::json!({"device": d.tag, "assignee": person, "desk": a.desk}),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn deliver(ctx: &Ctx, a: DeliverArgs) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    let d = super::known_device(&site, &a.device)?;
    let store = ctx.open_store()?;
    let from = store.stage(&d.tag)?.map(|r| r.stage);
    if !Stage::can_move(from, Stage::Delivered) {
        return Err(Failure::Refused(refusal(&d.tag, from, Stage::Delivered)));
    }
    let Some(person) = d.assignee.clone() else {
        return Err(Failure::Refused(format!(
            "{} has no assignee; assign it first: deskready assign {} --to PERSON --desk DESK",
            d.tag, d.tag
        )));
    };
    // A different desk than assigned is recorded as the device's desk from now on.
    let new_desk = a
        .desk
        .as_ref()
        .filter(|desk| d.location.desk.as_deref() != Some(desk.as_str()));
    let mut site = site;
    let mut before = None;
    if let Some(desk) = new_desk {
        let mut m = Mapping::new();
        m.insert(
            "assignee".into(),
            serde_yaml::to_value(&person).map_err(anyhow::Error::from)?,
        );
        m.insert("desk".into(), desk.clone().into());
        before = Some(set_assignment(ctx, &a.device, Some(m))?);
        site = ctx.load_site()?;
    }
    let undo = |before: Option<Option<Vec<u8>>>| {
        if let Some(b) = before {
            owned::restore(&ctx.site_dir, ASSIGNMENTS, b);
        }
    };
    let d = super::known_device(&site, &a.device)?;
    let delivery = Delivery {
        at: crate::store::now(),
        by: ctx.operator.clone(),
        desk: d.location.desk.clone(),
    };
    let resolved = match crate::resolve::resolve(&site, &d.tag, &ctx.vars) {
        Ok(r) => r,
        Err(diags) => {
            undo(before);
            return Err(Failure::Site(diags));
        }
    };
    let sheet = match handoff::render(&site, &resolved, &delivery) {
        Ok(s) => s,
        Err(e) => {
            undo(before);
            return Err(Failure::BadInput(e));
        }
    };
    let dir = site.state_dir().join("handoff");
    let md = dir.join(format!("{}.md", d.tag));
    let html = dir.join(format!("{}.html", d.tag));
    let written = owned::write_atomic(&md, sheet.markdown.as_bytes())
        .and_then(|()| owned::write_atomic(&html, sheet.html.as_bytes()));
    if let Err(e) = written {
        undo(before);
        return Err(Failure::Other(e.into()));
    }
    let msg = format!(
        "delivered to {} at desk {}; handoff sheet {}",
        person.name,
        delivery.desk.as_deref().unwrap_or("?"),
        md.display()
    );
    if let Err(e) = store.transition(
        &d.tag,
        Stage::Delivered,
        &ctx.operator,
        None,
        &[Entry::new(&d.tag, &ctx.operator, "delivered").message(&msg)],
    ) {
        undo(before);
        return Err(e.into());
    }
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({"device": d.tag, "assignee": person, "desk": delivery.desk, "at": delivery.at, "handoff_markdown": md, "handoff_html": html})
        ),
        Format::Text => {
            println!(
                "{}: delivered to {} at desk {}",
                d.tag,
                person.name,
                delivery.desk.as_deref().unwrap_or("?")
            );
            println!("handoff sheet: {}", md.display());
            println!("handoff sheet: {}", html.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `return`: back from its user, ready for the next one.
pub fn give_back(ctx: &Ctx, a: DeviceArg) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    let d = super::known_device(&site, &a.device)?;
    let store = ctx.open_store()?;
    let from = store.stage(&d.tag)?.map(|r| r.stage);
    if from != Some(Stage::Delivered) {
        return Err(Failure::Refused(format!(
            "{} is {}; only a delivered device can be returned by its user",
            d.tag,
            crate::model::stage_name(from)
        )));
    }
    let before = set_assignment(ctx, &d.tag, None)?;
    let cleared = std::fs::read(ctx.site_dir.join(ASSIGNMENTS)).ok() != before;
    let who = d
        .assignee
        .as_ref()
        .map_or("its user".to_string(), |p| p.name.clone());
    let mut msg = format!("returned by {who}");
    if cleared {
        msg.push_str("; assignment cleared");
    }
    if let Err(e) = store.transition(
        &d.tag,
        Stage::Received,
        &ctx.operator,
        None,
        &[Entry::new(&d.tag, &ctx.operator, "returned").message(&msg)],
    ) {
        owned::restore(&ctx.site_dir, ASSIGNMENTS, before);
        return Err(e.into());
    }
    let mut text = format!("{msg}; it is received again, ready for the next person");
    if !cleared && d.assignee.is_some() {
        text.push_str(&format!(
            "\nnote: its assignee is declared in {}; change it there (or with deskready assign) before it goes out again",
            d.origin.file
        ));
    }
    print(
        ctx,
        &d.tag,
        text,
        serde_json::json!({"device": d.tag, "stage": "received", "assignment_cleared": cleared}),
    );
    Ok(ExitCode::SUCCESS)
}

/// `repair` and `retire`: a move with a reason.
pub fn with_reason(ctx: &Ctx, a: ReasonArgs, to: Stage) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    let store = ctx.open_store()?;
    // A retired device may have left the inventory; its history stays.
    let known = site.device(&a.device).is_some() || store.stage(&a.device)?.is_some();
    if !known {
        super::known_device(&site, &a.device)?;
    }
    let kind = if to == Stage::Retired {
        "retired"
    } else {
        "repair"
    };
    let from = store.transition(
        &a.device,
        to,
        &ctx.operator,
        None,
        &[Entry::new(&a.device, &ctx.operator, kind).message(&a.reason)],
    )?;
    print(
        ctx,
        &a.device,
        format!(
            "{} (was {}): {}",
            to,
            crate::model::stage_name(from),
            a.reason
        ),
        serde_json::json!({"device": a.device, "stage": to, "from": crate::model::stage_name(from), "reason": a.reason}),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn note(ctx: &Ctx, a: NoteArgs) -> Result<ExitCode, Failure> {
    let site = ctx.load_site()?;
    let store = ctx.open_store()?;
    if site.device(&a.device).is_none() && store.stage(&a.device)?.is_none() {
        super::known_device(&site, &a.device)?;
    }
    if a.text.trim().is_empty() {
        return Err(Failure::BadInput("a note needs some text".into()));
    }
    store.record(&[Entry::new(&a.device, &ctx.operator, "note").message(&a.text)])?;
    print(
        ctx,
        &a.device,
        "noted".into(),
        serde_json::json!({"device": a.device, "note": a.text}),
    );
    Ok(ExitCode::SUCCESS)
}
