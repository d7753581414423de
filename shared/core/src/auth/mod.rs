//! API tokens: minting, hashing, and what a token may do. Only the SHA-256
//! of a token is ever stored or logged-adjacent; the token itself lives in
//! the request and in the minting CLI's stdout, nowhere else.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::ids::{CollectionKey, OrgId};

pub const TOKEN_PREFIX: &str = "folio_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
    /// Schemas, trash and restore; an admin token may also read and write.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// Operations a scoped key may be limited to, as Flotiq's scoped keys are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Create,
    Read,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "create" => Some(Operation::Create),
            "read" => Some(Operation::Read),
            "update" => Some(Operation::Update),
            "delete" => Some(Operation::Delete),
            _ => None,
        }
    }
}

/// A token presented by a client. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Accepts anything printable and short; an unknown token is an
    /// `Invalid token` later, not a parse error that hints at the format.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        (!s.is_empty() && s.len() <= 200 && s.bytes().all(|b| b.is_ascii_graphic()))
            .then(|| Token(s.to_owned()))
    }

    /// A new token: the prefix and 160 random bits in hex.
    pub fn mint() -> Self {
        let mut bytes = [0u8; 20];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        Token(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
    }

    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// A token's stored record (keyed by the token's hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub org: OrgId,
    pub scopes: Vec<Scope>,
    /// When set, the token works only on these collections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collections: Option<Vec<CollectionKey>>,
    /// When set, the token may only do these operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<Operation>>,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default)]
    pub name: Option<String>,
    pub created_at: String,
}

/// Who is calling: an organization, through one token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub org: OrgId,
    pub token_hash: String,
    pub record: TokenRecord,
}

impl Principal {
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.record
            .scopes
            .iter()
            .any(|s| *s == scope || *s == Scope::Admin)
    }

    /// Whether this token's collection limits admit `collection`.
    pub fn allows_collection(&self, collection: &CollectionKey) -> bool {
        self.record
            .collections
            .as_ref()
            .is_none_or(|allowed| allowed.contains(collection))
    }

    /// Whether this token may read items of `collection` (for what a
    /// response shows of other collections: references, referrers).
    pub fn may_read(&self, collection: &CollectionKey) -> bool {
        self.require(Scope::Read, Some(Operation::Read), Some(collection))
            .is_ok()
    }

    /// Refuses with a 403 that names what is missing.
    pub fn require(
        &self,
        scope: Scope,
        op: Option<Operation>,
        collection: Option<&CollectionKey>,
    ) -> Result<(), Error> {
        self.require_on(scope, op, collection, "content")
    }

    /// `require`, naming what the operation is on (`content`, `webhooks`, …).
    pub fn require_on(
        &self,
        scope: Scope,
        op: Option<Operation>,
        collection: Option<&CollectionKey>,
        subject: &str,
    ) -> Result<(), Error> {
        if !self.has_scope(scope) {
            return Err(Error::Forbidden(format!(
                "This token lacks the \"{}\" scope.",
                scope.as_str()
            )));
        }
        if let (Some(op), Some(ops)) = (op, &self.record.operations) {
            if !ops.contains(&op) {
                return Err(Error::Forbidden(format!(
                    "This token may not {} {subject}.",
                    op.as_str()
                )));
            }
        }
        if let (Some(c), Some(allowed)) = (collection, &self.record.collections) {
            if !allowed.contains(c) {
                return Err(Error::Forbidden(format!(
                    "This token is not allowed on collection \"{c}\"."
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_prefixed_random_and_hash_stably() {
        let a = Token::mint();
        let b = Token::mint();
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 40);
        assert_ne!(a, b);
        assert_eq!(a.hash(), Token::parse(a.expose()).unwrap().hash());
        assert_eq!(a.hash().len(), 64);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    fn principal(scopes: Vec<Scope>, ops: Option<Vec<Operation>>) -> Principal {
        Principal {
            org: OrgId::parse("acme").unwrap(),
            token_hash: "h".into(),
            record: TokenRecord {
                org: OrgId::parse("acme").unwrap(),
                scopes,
                collections: Some(vec![CollectionKey::parse("posts").unwrap()]),
                operations: ops,
                revoked: false,
                name: None,
                created_at: "t".into(),
            },
        }
    }

    #[test]
    fn scopes_operations_and_collections_are_all_enforced() {
        let posts = CollectionKey::parse("posts").unwrap();
        let team = CollectionKey::parse("team").unwrap();
        let p = principal(vec![Scope::Read], None);
        assert!(p
            .require(Scope::Read, Some(Operation::Read), Some(&posts))
            .is_ok());
        let Err(Error::Forbidden(msg)) = p.require(Scope::Write, None, Some(&posts)) else {
            panic!()
        };
        assert!(msg.contains("\"write\""));
        assert!(p.require(Scope::Read, None, Some(&team)).is_err());
        let p = principal(vec![Scope::Admin], Some(vec![Operation::Read]));
        assert!(p
            .require(Scope::Write, Some(Operation::Read), Some(&posts))
            .is_ok());
        assert!(p
            .require(Scope::Write, Some(Operation::Delete), Some(&posts))
            .is_err());
    }
}
