//! Moving a device through its life: `assign`, `deliver`, `accept`, `return`, `repair`,
//! `retire`, and `note` for a remark in its journal.

use super::converge::SshArgs;
use super::{Ctx, Failure, Format, say};
use crate::handoff::pdf::Paper;
use crate::model::{Stage, stage_name};
use crate::ops::accept::AcceptSettings;
use crate::ops::assign::AssignSettings;
use crate::ops::deliver::DeliverSettings;
use crate::ops::hooks::HookSettings;
use crate::ops::{
    ExitStatus, accept as ops_accept, assign as ops_assign, deliver as ops_deliver,
    lifecycle as ops,
};

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
    /// The language of their handoff sheet, where its guides have it (`fr`, `pt-BR`).
    #[arg(long, value_name = "CODE")]
    pub language: Option<String>,
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
    /// The paper the sheet's PDF is printed on (the HTML prints on A4 and Letter alike).
    #[arg(long, value_enum, ignore_case = true, default_value_t = PaperArg::A4)]
    pub paper: PaperArg,
    /// The person received it and the sheet there and then: record their acceptance.
    #[arg(long, value_name = "NAME")]
    pub accepted_by: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct AcceptArgs {
    /// The asset tag of the device (delivered).
    pub device: String,
    /// Who received the device and its sheet.
    #[arg(long, value_name = "NAME")]
    pub by: String,
    /// A scan or picture of their signature, kept beside the sheet.
    #[arg(long, value_name = "FILE")]
    pub signature: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReturnArgs {
    /// The asset tag of the device (delivered).
    pub device: String,
    /// Who handed it back (default: its assignee).
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Its condition ("good", "cracked screen").
    #[arg(long, value_name = "TEXT")]
    pub condition: Option<String>,
    /// Do not reach the device: record the return without running the profile's
    /// `on_return` hooks there (journaled as skipped), for a device that cannot be reached.
    #[arg(long)]
    pub skip_device: bool,
    #[command(flatten)]
    pub ssh: SshArgs,
}

#[derive(Debug, clap::Args)]
pub struct RepairArgs {
    /// The asset tag of the device.
    pub device: String,
    /// What is wrong ("cracked hinge").
    #[arg(long, alias = "reason", value_name = "TEXT")]
    pub fault: String,
    /// Parts replaced (comma-separated, or repeated).
    #[arg(long, value_name = "PARTS")]
    pub parts: Vec<String>,
    /// The vendor's ticket.
    #[arg(long, value_name = "ID")]
    pub ticket: Option<String>,
    /// The vendor's return authorisation (RMA).
    #[arg(long, value_name = "ID")]
    pub rma: Option<String>,
    /// What it cost: an amount and a currency code, such as `120.50 EUR`.
    #[arg(long, value_name = "AMOUNT CURRENCY")]
    pub cost: Option<String>,
    /// Who repairs it.
    #[arg(long, value_name = "NAME")]
    pub technician: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PaperArg {
    A4,
    Letter,
}

/// `retire`'s arguments.
#[derive(Debug, clap::Args)]
pub struct RetireArgs {
    /// The asset tag of the device.
    pub device: String,
    /// Why, for the journal ("end of lease").
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
        language: a.language,
    };
    let done = ops_assign::assign(ctx, &settings)?;
    let mut text = format!("{}: {}", done.device, done.message);
    if done.configure_again {
        text.push_str(&format!(
            "\nnext: it was configured before this assignment; configure it again (deliver waits for it): deskready configure {}",
            done.device
        ));
    }
    say(
        ctx,
        text,
        serde_json::json!({"device": done.device, "assignee": done.person, "desk": done.desk, "configure_again": done.configure_again}),
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
        paper: match a.paper {
            PaperArg::A4 => Paper::A4,
            PaperArg::Letter => Paper::Letter,
        },
        accepted_by: a.accepted_by,
    };
    let d = ops_deliver::deliver(ctx, &settings)?;
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({"device": d.device, "assignee": d.person, "desk": d.desk, "at": d.at, "handoff_markdown": d.sheet_markdown, "handoff_html": d.sheet_html, "handoff_pdf": d.sheet_pdf, "pdf_problem": d.pdf_problem, "guides": d.guides, "handoff": d.handoff})
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
            if let Some(pdf) = &d.sheet_pdf {
                println!("handoff sheet: {}", pdf.display());
            }
            match &d.handoff.accepted_by {
                Some(by) => println!("accepted by {by} (sheet v{})", d.handoff.version),
                None => println!(
                    "next: once {} has the device and the sheet, record it: deskready accept {} --by {}",
                    d.person.name,
                    d.device,
                    crate::shell::quote(&d.person.name)
                ),
            }
            if let Some(why) = &d.pdf_problem {
                eprintln!("warning: no PDF of the handoff sheet: {why}");
            }
        }
    }
    Ok(ExitStatus::Success)
}

pub(super) fn accept(ctx: &Ctx, a: AcceptArgs) -> Result<ExitStatus, Failure> {
    let settings = AcceptSettings {
        device: a.device,
        by: a.by,
        signature: a.signature,
    };
    let done = ops_accept::accept(ctx, &settings)?;
    let h = &done.handoff;
    let mut text = format!(
        "{}: accepted by {} (handoff sheet v{}, sha256:{})",
        h.device,
        h.accepted_by.as_deref().unwrap_or("?"),
        h.version,
        &h.sheet_digest[..h.sheet_digest.len().min(12)]
    );
    if let Some(name) = &done.not_assignee {
        text.push_str(&format!(
            "\nnote: {} is not its assignee ({name}); recorded as given",
            h.accepted_by.as_deref().unwrap_or("?")
        ));
    }
    say(
        ctx,
        text,
        serde_json::json!({"device": h.device, "handoff": h, "signature": done.signature, "not_assignee": done.not_assignee}),
    );
    Ok(ExitStatus::Success)
}

/// `return`: back from its user, ready for the next one.
pub(super) fn give_back(ctx: &Ctx, a: ReturnArgs) -> Result<ExitStatus, Failure> {
    let hooks = HookSettings {
        skip_device: a.skip_device,
        ssh: a.ssh.settings(),
    };
    let hb = ops::Handback {
        by: a.by,
        condition: a.condition,
    };
    let r = ops::give_back_with(ctx, &a.device, &hooks, &hb)?;
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
        serde_json::json!({"device": r.device, "stage": "received", "assignment_cleared": r.assignment_cleared, "returned_by": hb.by, "condition": hb.condition, "hooks": r.hooks}),
    );
    Ok(ExitStatus::Success)
}

/// `repair`: to in-repair with a repair record.
pub(super) fn repair(ctx: &Ctx, a: RepairArgs) -> Result<ExitStatus, Failure> {
    let settings = ops::RepairSettings {
        device: a.device,
        fault: a.fault,
        parts: a.parts,
        ticket: a.ticket,
        rma: a.rma,
        cost: a.cost,
        technician: a.technician,
    };
    let (from, message) = ops::repair(ctx, &settings)?;
    let from = stage_name(from);
    say(
        ctx,
        format!("{}: in-repair (was {from}): {message}", settings.device),
        serde_json::json!({"device": settings.device, "stage": Stage::InRepair, "from": from, "repair": message}),
    );
    Ok(ExitStatus::Success)
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
