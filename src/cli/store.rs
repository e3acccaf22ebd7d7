//! `deskready store copy --to postgres://…` and `deskready export`.

use std::path::PathBuf;

use super::{Ctx, Failure, say};
use crate::ops::{ExitStatus, records, store};

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Copies every row of the site's store into an empty PostgreSQL database (a team
    /// store), verified by counts and digests, and says how to switch to it.
    #[command(after_help = "Examples:
  PGPASSWORD=... deskready store copy --to postgres://deskready@db.example.org/deskready")]
    Copy(CopyArgs),
}

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// postgres://USER@HOST[:PORT]/DATABASE (the password from PGPASSWORD or
    /// DESKREADY_STORE_PASSWORD_FILE, or in this address).
    #[arg(long)]
    pub to: String,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Where to write inventory/received.yaml and inventory/assignments.yaml (default: the
    /// site).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub(super) fn run(ctx: &Ctx, c: StoreCommand) -> Result<ExitStatus, Failure> {
    let StoreCommand::Copy(a) = c;
    let r = store::copy(ctx, &a.to)?;
    let mut text = format!("copied {} to {}:\n", r.from, r.to);
    for t in &r.tables {
        text.push_str(&format!(
            "  {:<12} {:>7} rows  sha256 {}\n",
            t.table,
            t.rows,
            &t.digest[..16]
        ));
    }
    for (file, n) in &r.imported {
        text.push_str(&format!(
            "  {file}: {n} device(s) now kept in the team store; remove the file from the site once every CSP has switched\n"
        ));
    }
    text.push_str(&format!(
        "every row is there (counts and digests agree). To switch this site to the team store, set\n  settings:\n    store: {}\nin an inventory file (the password in PGPASSWORD or a file named by DESKREADY_STORE_PASSWORD_FILE, never in the site), or export DESKREADY_STORE={}",
        r.to, r.to
    ));
    let tables: Vec<serde_json::Value> = r
        .tables
        .iter()
        .map(|t| serde_json::json!({"table": t.table, "rows": t.rows, "sha256": t.digest}))
        .collect();
    say(
        ctx,
        text,
        serde_json::json!({"from": r.from, "to": r.to, "tables": tables, "imported": r.imported}),
    );
    Ok(ExitStatus::Success)
}

pub(super) fn export(ctx: &Ctx, a: ExportArgs) -> Result<ExitStatus, Failure> {
    let r = records::export(ctx, a.dir)?;
    let text = r
        .files
        .iter()
        .map(|(p, n)| format!("wrote {} ({n} device(s))", p.display()))
        .collect::<Vec<_>>()
        .join("\n");
    let files: Vec<serde_json::Value> = r
        .files
        .iter()
        .map(|(p, n)| serde_json::json!({"file": p, "devices": n}))
        .collect();
    say(ctx, text, serde_json::json!({"files": files}));
    Ok(ExitStatus::Success)
}
