//! What confirming an action on a key says, in the keys page's dialog (the browser) and
//! on the action's own page (the server, for a browser without script): one wording for
//! both.

/// An action on a key from its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAction {
    Revoke,
    Roll,
    Pause,
    Resume,
    EndOverlap,
    Shorten,
}

impl KeyAction {
    /// Every action, each confirmed by the keys page's dialog or, without script, by a
    /// page of its own.
    pub const ALL: [KeyAction; 6] = [
        Self::Roll,
        Self::Revoke,
        Self::Pause,
        Self::Resume,
        Self::EndOverlap,
        Self::Shorten,
    ];

    /// As in a row button's value and the confirmation page's query.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoke => "revoke",
            Self::Roll => "roll",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::EndOverlap => "end-overlap",
            Self::Shorten => "shorten",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// The confirm button's label, idle and while sending.
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            Self::Revoke => ("Revoke key", "Revoking…"),
            Self::Roll => ("Roll key", "Rolling…"),
            Self::Pause => ("Pause key", "Pausing…"),
            Self::Resume => ("Resume key", "Resuming…"),
            Self::EndOverlap => ("End overlap now", "Ending…"),
            Self::Shorten => ("Shorten to policy", "Shortening…"),
        }
    }
}

/// The key an action is about, as the confirmation words it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyTarget {
    pub name: String,
    pub hint: String,
    /// The old secret's hint while the key is rolling.
    pub rolling_hint: Option<String>,
    /// The shortening, worded by the server (`None` when the key is within the policy).
    pub shorten: Option<String>,
}

/// ` kg_ab12…` after a word, or nothing for an empty hint.
pub fn hint_after(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!(" {hint}…")
    }
}

impl KeyTarget {
    pub fn title(&self, action: KeyAction) -> String {
        let name = &self.name;
        match action {
            KeyAction::Revoke => format!("Revoke “{name}”?"),
            KeyAction::Roll => format!("Roll “{name}”?"),
            KeyAction::Pause => format!("Pause “{name}”?"),
            KeyAction::Resume => format!("Resume “{name}”?"),
            KeyAction::EndOverlap => format!("End the overlap of “{name}” now?"),
            KeyAction::Shorten => format!("Shorten “{name}” to the key policy?"),
        }
    }

    /// Rolling a key that is rolling already ends its older overlap: said first.
    pub fn ends_older_overlap(&self, action: KeyAction) -> Option<String> {
        let older = self
            .rolling_hint
            .as_deref()
            .filter(|_| action == KeyAction::Roll)?;
        Some(format!(
            "This key is already rolling: its older secret{} stops now, when you roll it again.",
            hint_after(older)
        ))
    }

    pub fn body(&self, action: KeyAction) -> String {
        match action {
            KeyAction::Revoke if self.rolling_hint.is_some() => {
                "Requests using this key, with its new or its old secret, will fail right away. This cannot be undone.".to_owned()
            }
            KeyAction::Revoke => {
                "Requests using this key will fail right away. This cannot be undone.".to_owned()
            }
            KeyAction::Roll => "A new secret is issued for this key: same name, scopes, expiry and usage history. The new secret is yours: its rights follow your role.".to_owned(),
            KeyAction::Pause => "Requests using this key are refused with “key_paused” until it resumes. Nothing else about the key changes.".to_owned(),
            KeyAction::Resume => "Requests using this key are accepted again, as before the pause.".to_owned(),
            KeyAction::EndOverlap => format!(
                "The old secret{} stops working right away; the new secret{} keeps working.",
                hint_after(self.rolling_hint.as_deref().unwrap_or_default()),
                hint_after(&self.hint)
            ),
            KeyAction::Shorten => self.shorten.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_back_and_say_what_they_do() {
        for action in KeyAction::ALL {
            assert_eq!(KeyAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(KeyAction::parse("delete"), None);
        let target = KeyTarget {
            name: "Billing".into(),
            hint: "kg_new".into(),
            rolling_hint: Some("kg_old".into()),
            shorten: None,
        };
        assert_eq!(target.title(KeyAction::Revoke), "Revoke “Billing”?");
        assert!(
            target
                .body(KeyAction::Revoke)
                .contains("new or its old secret")
        );
        assert_eq!(
            target.body(KeyAction::EndOverlap),
            "The old secret kg_old… stops working right away; the new secret kg_new… keeps working."
        );
    }
}
