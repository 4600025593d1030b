//! Input rules shared by the browser (instant feedback) and the server (the real check).
//! Each function returns the cleaned value or the message shown next to the field.

pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const NAME_MAX: usize = 100;
pub const EMAIL_MAX: usize = 254;

/// Trims, lower-cases and sanity-checks an email address. Deliverability is not checked:
/// the address only has to look like one person's mailbox.
pub fn email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err("Enter your email address.".into());
    }
    if email.chars().count() > EMAIL_MAX {
        return Err(format!(
            "Email addresses are at most {EMAIL_MAX} characters."
        ));
    }
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && domain.contains('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err("Enter a valid email address, like ada@example.com.".into())
    }
}

/// NIST SP 800-63B: length only (8..=128 characters of any kind), never truncated, no
/// composition rules. Counted in characters, not bytes, so any script is treated alike.
pub fn password(raw: &str) -> Result<(), String> {
    let len = raw.chars().count();
    if len < PASSWORD_MIN {
        return Err(format!("Use at least {PASSWORD_MIN} characters."));
    }
    if len > PASSWORD_MAX {
        return Err(format!("Use at most {PASSWORD_MAX} characters."));
    }
    Ok(())
}

/// A display name, organization name or key name: trimmed, 1..=100 characters, no control
/// characters. `what` names the thing in the message ("Name", "Organization name").
pub fn name(raw: &str, what: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(format!("{what} is required."));
    }
    if name.chars().count() > NAME_MAX {
        return Err(format!("{what} must be at most {NAME_MAX} characters."));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{what} cannot contain control characters."));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(email("  Ada@Example.COM ").unwrap(), "ada@example.com");
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        for bad in [
            "",
            "   ",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert!(email(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn password_counts_characters_not_bytes() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        // 8 characters but 24 bytes: accepted.
        assert!(password("ééééééé€").is_ok());
        assert!(password(&"x".repeat(128)).is_ok());
        assert!(password(&"x".repeat(129)).is_err());
        // 128 characters of 4 bytes each: still accepted, nothing truncated.
        assert!(password(&"🔑".repeat(128)).is_ok());
    }

    #[test]
    fn name_is_trimmed_and_bounded() {
        assert_eq!(name("  Acme  ", "Name").unwrap(), "Acme");
        assert_eq!(name("   ", "Name").unwrap_err(), "Name is required.");
        assert!(name(&"a".repeat(100), "Name").is_ok());
        assert!(name(&"a".repeat(101), "Name").is_err());
        assert!(name("Ac\u{0007}me", "Name").is_err());
        assert!(name("Ac\nme", "Name").is_err());
    }
}
