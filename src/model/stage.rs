//! Where a device is in its life, and which moves are legal.
//!
//! Stable stages change only on request; `configuring` is transient and becomes
//! `configure-failed` when its run fails or dies. A device declared in the inventory but
//! never received has no stage yet (shown as `expected`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Received,
    Configuring,
    Configured,
    ConfigureFailed,
    Delivered,
    InRepair,
    Retired,
}

impl Stage {
    pub const ALL: &'static [Stage] = &[
        Stage::Received,
        Stage::Configuring,
        Stage::Configured,
        Stage::ConfigureFailed,
        Stage::Delivered,
        Stage::InRepair,
        Stage::Retired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Received => "received",
            Stage::Configuring => "configuring",
            Stage::Configured => "configured",
            Stage::ConfigureFailed => "configure-failed",
            Stage::Delivered => "delivered",
            Stage::InRepair => "in-repair",
            Stage::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.iter().copied().find(|st| st.as_str() == s)
    }

    /// The stages a device may move to from `from` (`None`: declared, never received).
    pub fn moves_from(from: Option<Stage>) -> Vec<Stage> {
        use Stage::*;
        let mut to = match from {
            None => vec![Received],
            Some(Received) => vec![Configuring],
            // Delivered again when it was configured at its desk (an upgrade in place).
            Some(Configuring) => vec![Configured, ConfigureFailed, Delivered],
            Some(ConfigureFailed) => vec![Configuring],
            Some(Configured) => vec![Configuring, Delivered],
            Some(Delivered) => vec![Configuring, Received],
            Some(InRepair) => vec![Received],
            Some(Retired) => vec![],
        };
        // Any device may go to repair or be retired, except a retired one.
        if from != Some(Retired) {
            if from != Some(InRepair) && from.is_some() {
                to.push(InRepair);
            }
            to.push(Retired);
        }
        to
    }

    pub fn can_move(from: Option<Stage>, to: Stage) -> bool {
        Stage::moves_from(from).contains(&to)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `received`, or `expected` for a device never received.
pub fn stage_name(stage: Option<Stage>) -> &'static str {
    stage.map_or("expected", Stage::as_str)
}

/// An illegal stage move: where the device is, where it was asked to go, and where it may
/// go instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}", refusal(device, *from, *to), first_step(device, *never_received, *not_configured))]
pub struct MoveRefused {
    pub device: String,
    pub from: Option<Stage>,
    pub to: Stage,
    pub allowed: Vec<Stage>,
    /// The device was never received, and the refusal says to receive it first.
    pub never_received: bool,
    /// The device must be configured before this move, and the refusal says so.
    pub not_configured: bool,
}

impl MoveRefused {
    /// The refusal of moving `device` from `from` to `to`.
    pub fn new(device: &str, from: Option<Stage>, to: Stage) -> MoveRefused {
        MoveRefused {
            device: device.to_string(),
            from,
            to,
            allowed: Stage::moves_from(from),
            never_received: false,
            not_configured: false,
        }
    }

    /// The same refusal, telling a never-received device's CSP to receive it first.
    pub fn receive_first(mut self) -> MoveRefused {
        self.never_received = self.from.is_none();
        self
    }

    /// The same refusal, telling the CSP to configure first a device that is received (or
    /// whose configure failed) and was asked to be delivered.
    pub fn configure_first(mut self) -> MoveRefused {
        self.not_configured = self.to == Stage::Delivered
            && matches!(self.from, Some(Stage::Received | Stage::ConfigureFailed));
        self
    }
}

/// What to do before the move can be made, when the refusal knows it.
fn first_step(tag: &str, never_received: bool, not_configured: bool) -> String {
    if never_received {
        format!("; receive it first: deskready receive {tag} (or receive --scan / --csv)")
    } else if not_configured {
        format!("; configure it first: deskready configure {tag}")
    } else {
        String::new()
    }
}

/// Checks a move: `Ok` when `device` may go from `from` to `to`.
pub fn check_move(device: &str, from: Option<Stage>, to: Stage) -> Result<(), MoveRefused> {
    if Stage::can_move(from, to) {
        Ok(())
    } else {
        Err(MoveRefused::new(device, from, to))
    }
}

/// "LAP-0001 is delivered; from delivered it may go to: configuring, received, in-repair, retired"
pub fn refusal(tag: &str, from: Option<Stage>, wanted: Stage) -> String {
    let moves: Vec<&str> = Stage::moves_from(from)
        .into_iter()
        .map(Stage::as_str)
        .collect();
    let here = stage_name(from);
    let allowed = if moves.is_empty() {
        "nowhere (retired is final)".to_string()
    } else {
        moves.join(", ")
    };
    format!("{tag} cannot go to {wanted}: it is {here}; from {here} it may go to: {allowed}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use Stage::*;

    #[test]
    fn the_documented_moves() {
        assert!(Stage::can_move(None, Received));
        assert!(!Stage::can_move(None, Configuring));
        assert!(Stage::can_move(Some(Received), Configuring));
        assert!(Stage::can_move(Some(Configuring), Configured));
        assert!(Stage::can_move(Some(Configuring), ConfigureFailed));
        assert!(Stage::can_move(Some(Configuring), Delivered));
        assert!(Stage::can_move(Some(ConfigureFailed), Configuring));
        assert!(Stage::can_move(Some(Configured), Delivered));
        assert!(Stage::can_move(Some(Configured), Configuring));
        assert!(Stage::can_move(Some(Delivered), Configuring));
        assert!(Stage::can_move(Some(Delivered), Received));
        assert!(!Stage::can_move(Some(Received), Delivered));
        for s in Stage::ALL.iter().copied().filter(|s| *s != Retired) {
            assert!(Stage::can_move(Some(s), Retired), "{s} -> retired");
        }
        for s in Stage::ALL
            .iter()
            .copied()
            .filter(|s| !matches!(s, Retired | InRepair))
        {
            assert!(Stage::can_move(Some(s), InRepair), "{s} -> in-repair");
        }
        assert!(Stage::can_move(Some(InRepair), Received));
        assert!(Stage::moves_from(Some(Retired)).is_empty());
    }

    #[test]
    fn a_refused_move_carries_its_data() {
        let e = check_move("LAP-0001", None, Configuring).unwrap_err();
        assert_eq!(e.allowed, vec![Received, Retired]);
        assert_eq!(
            e.clone().receive_first().to_string(),
            format!(
                "{}; receive it first: deskready receive LAP-0001 (or receive --scan / --csv)",
                e
            )
        );
        assert!(check_move("LAP-0001", Some(Received), Configuring).is_ok());
    }

    #[test]
    fn a_device_not_configured_is_configured_before_it_is_delivered() {
        for from in [Received, ConfigureFailed] {
            let e = check_move("LAP-0001", Some(from), Delivered).unwrap_err();
            assert_eq!(
                e.clone().configure_first().to_string(),
                format!("{e}; configure it first: deskready configure LAP-0001")
            );
        }
        // Elsewhere the refusal says nothing more.
        let e = check_move("LAP-0001", Some(Retired), Delivered).unwrap_err();
        assert_eq!(e.clone().configure_first().to_string(), e.to_string());
        let e = check_move("LAP-0001", Some(Received), Received).unwrap_err();
        assert_eq!(e.clone().configure_first().to_string(), e.to_string());
    }

    #[test]
    fn a_refusal_says_where_it_can_go() {
        assert_eq!(
            refusal("LAP-0001", Some(Received), Delivered),
            "LAP-0001 cannot go to delivered: it is received; from received it may go to: configuring, in-repair, retired"
        );
        assert_eq!(
            refusal("LAP-0001", Some(Retired), Configuring),
            "LAP-0001 cannot go to configuring: it is retired; from retired it may go to: nowhere (retired is final)"
        );
    }
}
