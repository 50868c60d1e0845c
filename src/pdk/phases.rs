//! Kong's PDK phase check (`kong.pdk.private.phases`): each function
//! names the set of Kong's phases it may be called in, and a call in any
//! other phase raises Kong's error, which lists that whole set in Kong's
//! order, including the phases a function never runs in here
//! (`balancer`, `response`, `error`, `admin_api` …), as Kong's text does.

use lua_stdlib::{Context, Error};

use super::{lua_error, Phase, RequestContext};

/// A set of Kong's phases, as Kong's bit mask (`phase_checker.new`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Phases(u32);

/// Kong's phases by bit, in the order its error message lists them.
const NAMES: &[(u32, &str)] = &[
    (0x0000_0001, "init_worker"),
    (0x0000_0002, "certificate"),
    (0x0000_0008, "client_hello"),
    (0x0000_0010, "rewrite"),
    (0x0000_0020, "access"),
    (0x0000_0040, "balancer"),
    (0x0000_0080, "response"),
    (0x0000_0100, "cluster_listener"),
    (0x0000_0200, "header_filter"),
    (0x0000_0400, "body_filter"),
    (0x0000_2000, "log"),
    (0x0000_4000, "preread"),
    (0x0100_0000, "error"),
    (0x1000_0000, "admin_api"),
];

impl Phases {
    pub const CERTIFICATE: Phases = Phases(0x0000_0002);
    pub const REWRITE: Phases = Phases(0x0000_0010);
    pub const ACCESS: Phases = Phases(0x0000_0020);
    pub const BALANCER: Phases = Phases(0x0000_0040);
    pub const RESPONSE: Phases = Phases(0x0000_0080);
    pub const CLUSTER_LISTENER: Phases = Phases(0x0000_0100);
    pub const HEADER_FILTER: Phases = Phases(0x0000_0200);
    pub const BODY_FILTER: Phases = Phases(0x0000_0400);
    pub const LOG: Phases = Phases(0x0000_2000);
    pub const PREREAD: Phases = Phases(0x0000_4000);
    pub const ERROR: Phases = Phases(0x0100_0000);
    pub const ADMIN_API: Phases = Phases(0x1000_0000);

    /// Kong's `PHASES.request` alias: every phase of a request.
    pub const REQUEST: Phases = Phases::REWRITE
        .or(Phases::ACCESS)
        .or(Phases::BALANCER)
        .or(Phases::RESPONSE)
        .or(Phases::HEADER_FILTER)
        .or(Phases::BODY_FILTER)
        .or(Phases::LOG)
        .or(Phases::ERROR)
        .or(Phases::ADMIN_API)
        .or(Phases::CLUSTER_LISTENER);
    /// `kong.response`'s and `kong.service.response`'s
    /// `header_body_log` (the response exists).
    pub const HEADER_BODY_LOG: Phases = Phases::RESPONSE
        .or(Phases::HEADER_FILTER)
        .or(Phases::BODY_FILTER)
        .or(Phases::LOG)
        .or(Phases::ERROR)
        .or(Phases::ADMIN_API);
    /// `kong.response`'s `rewrite_access_header` (the response can still
    /// be changed: setters, `exit`, `error`).
    pub const REWRITE_ACCESS_HEADER: Phases = Phases::REWRITE
        .or(Phases::ACCESS)
        .or(Phases::RESPONSE)
        .or(Phases::BALANCER)
        .or(Phases::HEADER_FILTER)
        .or(Phases::ERROR)
        .or(Phases::ADMIN_API);

    pub const fn or(self, other: Phases) -> Phases {
        Phases(self.0 | other.0)
    }

    fn of(phase: Phase) -> Phases {
        match phase {
            Phase::Certificate => Phases::CERTIFICATE,
            Phase::Rewrite => Phases::REWRITE,
            Phase::Access => Phases::ACCESS,
            Phase::HeaderFilter => Phases::HEADER_FILTER,
            Phase::BodyFilter => Phases::BODY_FILTER,
            Phase::Log => Phases::LOG,
        }
    }

    pub fn contains(self, phase: Phase) -> bool {
        self.0 & Phases::of(phase).0 != 0
    }

    /// Kong's list of the set's phases: "rewrite, access, balancer".
    pub fn names(self) -> String {
        let names: Vec<&str> = NAMES
            .iter()
            .filter(|(bit, _)| self.0 & bit != 0)
            .map(|(_, name)| *name)
            .collect();
        names.join(", ")
    }

    /// Kong's error for a call in `phase`, outside the set.
    pub fn error(self, phase: Phase) -> String {
        format!(
            "function cannot be called in {} phase (only in: {})",
            phase.name(),
            self.names()
        )
    }
}

/// Kong's phase check: "function cannot be called in X phase (only in: …)".
pub(crate) fn only_in<'gc>(
    ctx: Context<'gc>,
    req: &RequestContext,
    allowed: Phases,
) -> Result<(), Error<'gc>> {
    if allowed.contains(req.phase) {
        return Ok(());
    }
    Err(lua_error(ctx, &allowed.error(req.phase)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kong_lists_the_whole_set_in_its_order() {
        assert_eq!(
            Phases::REWRITE_ACCESS_HEADER.error(Phase::BodyFilter),
            "function cannot be called in body_filter phase \
             (only in: rewrite, access, balancer, response, header_filter, error, admin_api)"
        );
        assert_eq!(
            Phases::HEADER_BODY_LOG.names(),
            "response, header_filter, body_filter, log, error, admin_api"
        );
        assert_eq!(
            Phases::REQUEST.names(),
            "rewrite, access, balancer, response, cluster_listener, header_filter, \
             body_filter, log, error, admin_api"
        );
        assert!(Phases::HEADER_BODY_LOG.contains(Phase::Log));
        assert!(!Phases::HEADER_BODY_LOG.contains(Phase::Access));
    }
}
