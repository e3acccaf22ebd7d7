//! Moving a device through its life: `assign`, `deliver`, `return`, `repair`, `retire`,
//! and `note` for a remark in its journal.

use super::converge::SshArgs;
use super::{Ctx, Failure, Format, say};
use crate::model::{Stage, stage_name};
use crate::ops::assign::AssignSettings;
use crate::ops::deliver::DeliverSettings;
use crate::ops::hooks::HookSettings;
use crate::ops::{ExitStatus, assign as ops_assign, deliver as ops_deliver, lifecycle as ops};

#[derive(Debug, clap::Args)]
pub struct AssignArgs {
    /// The asset tag of the device.
    pub device: String,
    /// The person's full name (needed the first time; default: its assignee).
    #[arg(long = "to", value_name = "PERSON")]
    pub to: Option<String>,
    /// The desk it goes to (needed the first time; default: its desk).
    #[arg(long)]
    pub desk: Option<String>,
    /// Their login name (default: the one they had, else the first initial and the last
    /// name in lowercase ASCII, accents dropped: Léa Dubois-Ngata -> ldubois-ngata).
    #[arg(long)]
    pub username: Option<String>,
    /// Their email address (given alone, it changes just the email).
    #[arg(long)]
    pub email: Option<String>,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  deskready set-profile LAP-0100 laptop-engineering")]
pub struct SetProfileArgs {
    /// The asset tag of a device in inventory/received.yaml.
    pub device: String,
    /// The profile to configure it with.
    pub profile: String,
}

#[derive(Debug, clap::Args)]
pub struct DeliverArgs {
    /// The asset tag of the device (configured, with an assignee).
    pub device: String,
    /// Where it was handed over, when not the desk it was assigned to.
    #[arg(long)]
    pub desk: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReasonArgs {
    /// The asset tag of the device.
    pub device: String,
    /// Why, for the journal ("cracked hinge", "end of lease").
    #[arg(long)]
    pub reason: String,
}

/// `return`'s arguments.
#[derive(Debug, clap::Args)]
pub struct DeviceArg {
    /// The asset tag of the device.
    pub device: String,
    /// Do not reach the device: record the return without running the profile's
    /// `on_return` hooks there (journaled as skipped), for a device that cannot be reached.
    #[arg(long)]
    pub skip_device: bool,
    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, clap::Args)]
pub struct RetireArgs {
    /// The asset tag of the device.
    pub device: String,
    /// Why, for the journal ("cracked hinge", "end of lease").
    #[arg(long)]
    pub reason: String,
    /// Do not reach the device: record the retirement without running the profile's
    /// `on_retire` hooks there (journaled as skipped), for a device that cannot be reached.
    #[arg(long)]
    pub skip_device: bool,
    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, clap::Args)]
pub struct NoteArgs {
    /// The asset tag of the device.
    pub device: String,
    /// The remark ("replaced the battery").
    pub text: String,
}

pub(super) fn assign(ctx: &Ctx, a: AssignArgs) -> Result<ExitStatus, Failure> {
    let settings = AssignSettings {
        device: a.device,
        to: a.to,
        desk: a.desk,
        username: a.username,
        email: a.email,
    };
    let done = ops_assign::assign(ctx, &settings)?;
    say(
        ctx,
        format!("{}: {}", done.device, done.message),
        serde_json::json!({"device": done.device, "assignee": done.person, "desk": done.desk}),
    );
    Ok(ExitStatus::Success)
}

pub(super) fn set_profile(ctx: &Ctx, a: SetProfileArgs) -> Result<ExitStatus, Failure> {
    let done = crate::ops::profile::set_profile(ctx, &a.device, &a.profile)?;
    say(
        ctx,
        match &done.was {
            Some(was) => format!("{}: profile {} (was {was})", done.device, done.profile),
            None => format!("{}: profile {}", done.device, done.profile),
        },
        serde_json::json!({"device": done.device, "profile": done.profile, "was": done.was}),
    );
    Ok(ExitStatus::Success)
}

pub(super) fn deliver(ctx: &Ctx, a: DeliverArgs) -> Result<ExitStatus, Failure> {
    let settings = DeliverSettings {
        device: a.device,
        desk: a.desk,
    };
    let d = ops_deliver::deliver(ctx, &settings)?;
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({"device": d.device, "assignee": d.person, "desk": d.desk, "at": d.at, "handoff_markdown": d.sheet_markdown, "handoff_html": d.sheet_html})
        ),
        Format::Text => {
            println!(
                "{}: delivered to {} at desk {}",
                d.device,
                d.person.name,
                d.desk.as_deref().unwrap_or("?")
            );
            println!("handoff sheet: {}", d.sheet_markdown.display());
            println!("handoff sheet: {}", d.sheet_html.display());
        }
    }
    Ok(ExitStatus::Success)
}

/// `return`: back from its user, ready for the next one.
pub(super) fn give_back(ctx: &Ctx, a: DeviceArg) -> Result<ExitStatus, Failure> {
    let hooks = HookSettings {
        skip_device: a.skip_device,
        ssh: a.ssh.settings(),
    };
    let r = ops::give_back(ctx, &a.device, &hooks)?;
    let mut text = String::new();
    if let Some(h) = &r.hooks {
        text.push_str(&format!("{}: {h}\n", r.device));
    }
    text.push_str(&format!(
        "{}: {}; it is received again, ready for the next person",
        r.device, r.message
    ));
    if let Some(file) = &r.declared_in {
        text.push_str(&format!(
            "\nnote: its assignee is declared in {file}; change it there (or with deskready assign) before it goes out again"
        ));
    }
    say(
        ctx,
        text,
        serde_json::json!({"device": r.device, "stage": "received", "assignment_cleared": r.assignment_cleared, "hooks": r.hooks}),
    );
    Ok(ExitStatus::Success)
}

/// `repair`: a move with a reason.
pub(super) fn with_reason(ctx: &Ctx, a: ReasonArgs, to: Stage) -> Result<ExitStatus, Failure> {
    moved(ctx, &a.device, &a.reason, to, None)
}

/// `retire`: for good, after the profile's `on_retire` hooks ran on the device.
pub(super) fn retire(ctx: &Ctx, a: RetireArgs) -> Result<ExitStatus, Failure> {
    let hooks = HookSettings {
        skip_device: a.skip_device,
        ssh: a.ssh.settings(),
    };
    moved(ctx, &a.device, &a.reason, Stage::Retired, Some(&hooks))
}

fn moved(
    ctx: &Ctx,
    device: &str,
    reason: &str,
    to: Stage,
    hooks: Option<&HookSettings>,
) -> Result<ExitStatus, Failure> {
    let m = ops::with_reason(ctx, device, to, reason, hooks)?;
    let from = stage_name(m.from);
    let mut text = String::new();
    if let Some(h) = &m.hooks {
        text.push_str(&format!("{device}: {h}\n"));
    }
    text.push_str(&format!("{device}: {to} (was {from}): {reason}"));
    say(
        ctx,
        text,
        serde_json::json!({"device": device, "stage": to, "from": from, "reason": reason, "hooks": m.hooks}),
    );
    Ok(ExitStatus::Success)
}

pub(super) fn note(ctx: &Ctx, a: NoteArgs) -> Result<ExitStatus, Failure> {
    ops::note(ctx, &a.device, &a.text)?;
    say(
        ctx,
        format!("{}: noted", a.device),
        serde_json::json!({"device": a.device, "note": a.text}),
    );
    Ok(ExitStatus::Success)
}
