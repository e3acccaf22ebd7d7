//! Moving a device through its life: `assign`, `deliver`, `return`, `repair`, `retire`,
//! and `note` for a remark in its journal.

use super::{Ctx, Failure, Format, say};
use crate::handoff::pdf::Paper;
use crate::model::{Stage, stage_name};
use crate::ops::assign::AssignSettings;
use crate::ops::deliver::DeliverSettings;
use crate::ops::{ExitStatus, assign as ops_assign, deliver as ops_deliver, lifecycle as ops};

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
    /// The paper the sheet's PDF is printed on (the HTML prints on A4 and Letter alike).
    #[arg(long, value_enum, default_value_t = PaperArg::A4)]
    pub paper: PaperArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PaperArg {
    A4,
    Letter,
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

pub(super) fn deliver(ctx: &Ctx, a: DeliverArgs) -> Result<ExitStatus, Failure> {
    let settings = DeliverSettings {
        device: a.device,
        desk: a.desk,
        paper: match a.paper {
            PaperArg::A4 => Paper::A4,
            PaperArg::Letter => Paper::Letter,
        },
    };
    let d = ops_deliver::deliver(ctx, &settings)?;
    match ctx.format {
        Format::Json => println!(
            "{}",
            serde_json::json!({"device": d.device, "assignee": d.person, "desk": d.desk, "at": d.at, "handoff_markdown": d.sheet_markdown, "handoff_html": d.sheet_html, "handoff_pdf": d.sheet_pdf, "pdf_problem": d.pdf_problem, "guides": d.guides})
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
            if let Some(why) = &d.pdf_problem {
                eprintln!("warning: no PDF of the handoff sheet: {why}");
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// `return`: back from its user, ready for the next one.
pub(super) fn give_back(ctx: &Ctx, a: DeviceArg) -> Result<ExitStatus, Failure> {
    let r = ops::give_back(ctx, &a.device)?;
    let mut text = format!(
        "{}: {}; it is received again, ready for the next person",
        r.device, r.message
    );
    if let Some(file) = &r.declared_in {
        text.push_str(&format!(
            "\nnote: its assignee is declared in {file}; change it there (or with deskready assign) before it goes out again"
        ));
    }
    say(
        ctx,
        text,
        serde_json::json!({"device": r.device, "stage": "received", "assignment_cleared": r.assignment_cleared}),
    );
    Ok(ExitStatus::Success)
}

/// `repair` and `retire`: a move with a reason.
pub(super) fn with_reason(ctx: &Ctx, a: ReasonArgs, to: Stage) -> Result<ExitStatus, Failure> {
    let from = stage_name(ops::with_reason(ctx, &a.device, to, &a.reason)?);
    say(
        ctx,
        format!("{}: {to} (was {from}): {}", a.device, a.reason),
        serde_json::json!({"device": a.device, "stage": to, "from": from, "reason": a.reason}),
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
