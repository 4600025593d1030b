//! Permission questions for `/api/v1/verify`: a list (all of) or a boolean expression
//! such as `invoices:read and (refunds:write or admin)`. `and` binds tighter than `or`;
//! parentheses group. Parsed once per request into a small tree, evaluated against the
//! key's [`Grants`](super::Grants).

use super::{Grants, check_permission_name, shown};

/// Longest expression read, in bytes, and deepest nesting.
pub const MAX_EXPRESSION_LEN: usize = 1_000;
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Permission(String),
    All(Vec<Query>),
    Any(Vec<Query>),
}

impl Query {
    /// Every permission must be held.
    pub fn all_of(permissions: Vec<String>) -> Result<Query, String> {
        if permissions.is_empty() {
            return Err("Name at least one permission.".into());
        }
        for p in &permissions {
            check_permission_name(p)?;
        }
        Ok(Query::All(
            permissions.into_iter().map(Query::Permission).collect(),
        ))
    }

    /// Reads `invoices:read and (refunds:write or admin)`.
    pub fn parse(text: &str) -> Result<Query, String> {
        if text.len() > MAX_EXPRESSION_LEN {
            return Err(format!(
                "The permission expression is longer than {MAX_EXPRESSION_LEN} characters."
            ));
        }
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Err("The permission expression is empty.".into());
        }
        let mut parser = Parser { tokens, at: 0 };
        let query = parser.or(0)?;
        match parser.tokens.get(parser.at) {
            None => Ok(query),
            Some(token) => Err(format!(
                "Unexpected {} in the permission expression.",
                token.describe()
            )),
        }
    }

    pub fn holds(&self, grants: &Grants) -> bool {
        match self {
            Query::Permission(p) => grants.allows(p),
            Query::All(items) => items.iter().all(|q| q.holds(grants)),
            Query::Any(items) => items.iter().any(|q| q.holds(grants)),
        }
    }

    /// The permissions named in the question that `grants` do not give, in order,
    /// each once: what `/verify` reports as missing.
    pub fn missing(&self, grants: &Grants) -> Vec<String> {
        let mut missing = Vec::new();
        self.collect(&|p| !grants.allows(p), &mut missing);
        missing
    }

    /// The permissions named in the question that `grants` give, in order, each once:
    /// what a key that passed used.
    pub fn held(&self, grants: &Grants) -> Vec<String> {
        let mut held = Vec::new();
        self.collect(&|p| grants.allows(p), &mut held);
        held
    }

    fn collect(&self, keep: &impl Fn(&str) -> bool, into: &mut Vec<String>) {
        match self {
            Query::Permission(p) => {
                if keep(p) && !into.contains(p) {
                    into.push(p.clone());
                }
            }
            Query::All(items) | Query::Any(items) => {
                for item in items {
                    item.collect(keep, into);
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Name(String),
    And,
    Or,
    Open,
    Close,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Name(n) => shown(n),
            Token::And => "“and”".into(),
            Token::Or => "“or”".into(),
            Token::Open => "“(”".into(),
            Token::Close => "“)”".into(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    // `&&` and `||` are `and` and `or` (no permission name has `&` or `|`).
    let spaced = text.replace("&&", " and ").replace("||", " or ");
    let text = spaced.as_str();
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            _ => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, next)) = chars.peek() {
                    if next.is_whitespace() || next == '(' || next == ')' {
                        break;
                    }
                    end = i + next.len_utf8();
                    chars.next();
                }
                let word = &text[start..end];
                tokens.push(match word.to_ascii_lowercase().as_str() {
                    "and" => Token::And,
                    "or" => Token::Or,
                    _ => {
                        check_permission_name(word)?;
                        Token::Name(word.to_owned())
                    }
                });
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or(&mut self, depth: usize) -> Result<Query, String> {
        let mut items = vec![self.and(depth)?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Query::Any(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Query, String> {
        let mut items = vec![self.atom(depth)?];
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            items.push(self.atom(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Query::All(items)
        })
    }

    fn atom(&mut self, depth: usize) -> Result<Query, String> {
        if depth >= MAX_DEPTH {
            return Err(format!(
                "The permission expression nests deeper than {MAX_DEPTH} parentheses."
            ));
        }
        match self.next() {
            Some(Token::Name(name)) => Ok(Query::Permission(name)),
            Some(Token::Open) => {
                let inner = self.or(depth + 1)?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("A “(” in the permission expression is not closed.".into()),
                }
            }
            Some(token) => Err(format!(
                "Expected a permission before {} in the permission expression.",
                token.describe()
            )),
            None => Err("The permission expression ends where a permission is expected.".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::parse_grants;

    fn grants(list: &str) -> Grants {
        Grants::new(parse_grants([list]).unwrap())
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        let q = Query::parse("invoices:read and (refunds:write or admin)").unwrap();
        assert!(q.holds(&grants("invoices:read admin")));
        assert!(q.holds(&grants("invoices:* refunds:write")));
        assert!(!q.holds(&grants("invoices:read")));
        assert!(!q.holds(&grants("admin refunds:write")));
        assert_eq!(
            q.missing(&grants("invoices:read")),
            ["refunds:write", "admin"]
        );
        // a or b and c  ==  a or (b and c)
        let q = Query::parse("a:x or b:x AND c:x").unwrap();
        assert!(q.holds(&grants("a:x")));
        assert!(!q.holds(&grants("b:x")));
        assert!(q.holds(&grants("b:x c:x")));
        assert!(
            Query::parse("(a:x||b:x)&&c:x")
                .unwrap()
                .holds(&grants("b:x c:x"))
        );
    }

    #[test]
    fn broken_expressions_say_where() {
        for (bad, says) in [
            ("", "empty"),
            ("a:x and", "ends where"),
            ("(a:x or b:x", "not closed"),
            ("a:x b:x", "Unexpected “b:x”"),
            ("and a:x", "before “and”"),
            ("a:x)", "Unexpected “)”"),
            ("Invoices:Read", "resource:action"),
            ("</textarea><h1>", "resource:action"),
        ] {
            let message = Query::parse(bad).unwrap_err();
            assert!(message.contains(says), "{bad}: {message}");
        }
        let deep = "(".repeat(20) + "a:x" + &")".repeat(20);
        assert!(Query::parse(&deep).unwrap_err().contains("deeper"));
        assert!(
            Query::parse(&"a:x or ".repeat(200))
                .unwrap_err()
                .contains("longer")
        );
        assert!(Query::all_of(vec![]).is_err());
        assert!(
            Query::all_of(vec!["a:x".into(), "b:y".into()])
                .unwrap()
                .holds(&grants("a:* b:y"))
        );
    }
}
