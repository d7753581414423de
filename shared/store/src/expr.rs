//! A small builder for DynamoDB expressions: placeholders for names and
//! values are generated, so no caller pastes user input into an expression.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

#[derive(Debug, Default, Clone)]
pub struct Expr {
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
    set: Vec<String>,
    remove: Vec<String>,
    add: Vec<String>,
    delete: Vec<String>,
    conditions: Vec<String>,
}

/// What a request carries of an expression besides its update clauses.
pub struct Parts {
    pub condition: Option<String>,
    pub names: Option<HashMap<String, String>>,
    pub values: Option<HashMap<String, AttributeValue>>,
}

impl Expr {
    pub fn new() -> Self {
        Self::default()
    }

    /// A placeholder for an attribute or map key name.
    pub fn name(&mut self, name: &str) -> String {
        if let Some((k, _)) = self.names.iter().find(|(_, v)| v.as_str() == name) {
            return k.clone();
        }
        let k = format!("#n{}", self.names.len());
        self.names.insert(k.clone(), name.to_owned());
        k
    }

    pub fn value(&mut self, value: AttributeValue) -> String {
        let k = format!(":v{}", self.values.len());
        self.values.insert(k.clone(), value);
        k
    }

    pub fn set(&mut self, clause: String) -> &mut Self {
        self.set.push(clause);
        self
    }

    pub fn set_value(&mut self, attr: &str, value: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(value));
        self.set(format!("{n} = {v}"))
    }

    pub fn remove(&mut self, path: String) -> &mut Self {
        self.remove.push(path);
        self
    }

    pub fn remove_attr(&mut self, attr: &str) -> &mut Self {
        let n = self.name(attr);
        self.remove(n)
    }

    /// `ADD attr :set`: union into a set attribute, creating it if needed.
    pub fn add_to_set(&mut self, attr: &str, members: Vec<String>) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(AttributeValue::Ss(members)));
        self.add.push(format!("{n} {v}"));
        self
    }

    /// `DELETE attr :set`: DynamoDB drops the attribute when the set empties.
    pub fn delete_from_set(&mut self, attr: &str, members: Vec<String>) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(AttributeValue::Ss(members)));
        self.delete.push(format!("{n} {v}"));
        self
    }

    /// `ADD attr :n`: adds to a number, creating it at `n`.
    pub fn add_number(&mut self, attr: &str, n: i64) -> &mut Self {
        let (a, v) = (
            self.name(attr),
            self.value(AttributeValue::N(n.to_string())),
        );
        self.add.push(format!("{a} {v}"));
        self
    }

    /// Adds a clause to the condition; clauses are joined with AND.
    pub fn when(&mut self, clause: String) -> &mut Self {
        self.conditions.push(clause);
        self
    }

    /// `attr = :value`
    pub fn when_equals(&mut self, attr: &str, value: AttributeValue) -> &mut Self {
        let (a, v) = (self.name(attr), self.value(value));
        self.when(format!("{a} = {v}"))
    }

    pub fn when_exists(&mut self, attr: &str) -> &mut Self {
        let a = self.name(attr);
        self.when(format!("attribute_exists({a})"))
    }

    pub fn when_absent(&mut self, attr: &str) -> &mut Self {
        let a = self.name(attr);
        self.when(format!("attribute_not_exists({a})"))
    }

    pub fn condition_expression(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| {
            self.conditions
                .iter()
                .map(|c| format!("({c})"))
                .collect::<Vec<_>>()
                .join(" AND ")
        })
    }

    /// `SET version = version + 1`; returns the placeholder for `version`,
    /// for a condition on the version the write expects.
    pub fn bump_version(&mut self) -> String {
        let version = self.name("version");
        let one = self.value(AttributeValue::N("1".into()));
        self.set(format!("{version} = {version} + {one}"));
        version
    }

    pub fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        for (kw, clauses) in [
            ("SET", &self.set),
            ("REMOVE", &self.remove),
            ("ADD", &self.add),
            ("DELETE", &self.delete),
        ] {
            if !clauses.is_empty() {
                parts.push(format!("{kw} {}", clauses.join(", ")));
            }
        }
        parts.join(" ")
    }

    pub fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// The expression's parts moved out, for the one request built from
    /// them (`names()` and `values()` copy the maps).
    pub fn into_parts(self) -> Parts {
        Parts {
            condition: self.condition_expression(),
            names: (!self.names.is_empty()).then_some(self.names),
            values: (!self.values.is_empty()).then_some(self.values),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_every_clause_with_placeholders() {
        let mut e = Expr::new();
        e.set_value("status", AttributeValue::S("draft".into()));
        e.remove_attr("live_pk");
        e.add_to_set("restrict_refs", vec!["a".into()]);
        e.delete_from_set("detach_refs", vec!["b".into()]);
        assert_eq!(
            e.update_expression(),
            "SET #n0 = :v0 REMOVE #n1 ADD #n2 :v1 DELETE #n3 :v2"
        );
        assert_eq!(e.name("status"), "#n0");
        assert_eq!(e.condition_expression(), None);
        e.when_exists("pk").when_absent("deleted_at");
        assert_eq!(
            e.condition_expression().unwrap(),
            "(attribute_exists(#n4)) AND (attribute_not_exists(#n5))"
        );
    }
}
