//! What to do about a violation, ordered so the strongest of several wins.
//!
//! [`Action`] is part of the event model (a `policy-violation` records it), so it lives in
//! `audit-core` with its one table of names; a policy file's `action` takes the same names.

pub use audit_core::Action;

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn deny_is_stronger_than_detach_is_stronger_than_alert() {
        assert!(Action::Deny > Action::Detach);
        assert!(Action::Detach > Action::Alert);
        assert_eq!(
            [Action::Detach, Action::Deny, Action::Alert]
                .into_iter()
                .max(),
            Some(Action::Deny)
        );
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for &a in Action::ALL {
            assert_eq!(a.as_str().parse(), Ok(a));
        }
        assert!("kick".parse::<Action>().is_err());
        assert!("Deny".parse::<Action>().is_err());
    }
}
