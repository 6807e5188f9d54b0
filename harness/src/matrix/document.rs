//! Reading values out of a parsed TOML document with their positions, collecting every
//! mistake (unknown key, wrong type, invalid value) instead of stopping at the first, as a
//! serde derive would.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One mistake in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mistake {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Collects mistakes with their positions in `source`.
#[derive(Debug)]
pub struct Mistakes<'s> {
    source: &'s str,
    pub list: Vec<Mistake>,
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    pub value: T,
    pub span: Range<usize>,
}

/// A table of weights as written: each name and its weight, each with where it was written.
pub type Weights = Vec<(At<String>, At<i64>)>;

impl<'s> Mistakes<'s> {
    pub fn new(source: &'s str) -> Mistakes<'s> {
        Mistakes { source, list: Vec::new() }
    }

    /// Records `message` at byte `span.start`; the same mistake at the same place is kept once.
    pub fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = line_column(self.source, span.start);
        let mistake = Mistake { line, column, message: message.into() };
        if !self.list.contains(&mistake) {
            self.list.push(mistake);
        }
    }

    /// The mistakes in file order.
    pub fn sorted(mut self) -> Vec<Mistake> {
        self.list.sort_by_key(|p| (p.line, p.column));
        self.list
    }

    /// Reports every key of `table` not in `known`, naming the table and what it allows.
    pub fn unknown_keys(&mut self, table: &DeTable<'_>, known: &[&str], context: &str) {
        for (key, _) in table.iter() {
            if !known.contains(&key.get_ref().as_ref()) {
                self.at(
                    key.span(),
                    format!("unknown key `{}` in {context} (known: {})", key.get_ref(), known.join(", ")),
                );
            }
        }
    }

    /// A table's `key`, or a mistake if it is there but not a table.
    pub fn table<'t, 'i>(&mut self, table: &'t DeTable<'i>, key: &str) -> Option<&'t DeTable<'i>> {
        let value = get(table, key)?;
        match value.get_ref() {
            DeValue::Table(inner) => Some(inner),
            other => {
                self.at(value.span(), format!("`{key}` must be a table, not {}", kind(other)));
                None
            }
        }
    }

    /// An array of tables (`[[key]]`), each with its span.
    pub fn tables<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        key: &str,
    ) -> Vec<(&'t DeTable<'i>, Range<usize>)> {
        let Some(value) = get(table, key) else { return Vec::new() };
        let DeValue::Array(items) = value.get_ref() else {
            self.at(value.span(), format!("`{key}` must be an array of tables ([[{key}]])"));
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| match item.get_ref() {
                DeValue::Table(inner) => Some((inner, item.span())),
                other => {
                    self.at(item.span(), format!("each `{key}` must be a table, not {}", kind(other)));
                    None
                }
            })
            .collect()
    }

    /// A table's `key` as an inline table of whole numbers (`{ "/" = 99, "/work/1000" = 1 }`):
    /// each key with its number and position.
    pub fn weights(&mut self, table: &DeTable<'_>, key: &str) -> Option<At<Weights>> {
        let value = get(table, key)?;
        let DeValue::Table(inner) = value.get_ref() else {
            self.at(
                value.span(),
                format!("`{key}` must be a table of weights, e.g. {{ \"/\" = 99, \"/work/1000\" = 1 }}"),
            );
            return None;
        };
        let mut entries = Vec::new();
        for (name, weight) in inner.iter() {
            let name = At { value: name.get_ref().to_string(), span: name.span() };
            if let Some(weight) = self.as_integer(weight, &format!("the weight of {:?}", name.value)) {
                entries.push((name, weight));
            }
        }
        Some(At { value: entries, span: value.span() })
    }

    pub fn integer(&mut self, table: &DeTable<'_>, key: &str) -> Option<At<i64>> {
        let value = get(table, key)?;
        self.as_integer(value, &format!("`{key}`"))
    }

    fn as_integer(&mut self, value: &Spanned<DeValue<'_>>, what: &str) -> Option<At<i64>> {
        match value.get_ref() {
            DeValue::Integer(n) => match i64::from_str_radix(n.as_str(), n.radix()) {
                Ok(n) => Some(At { value: n, span: value.span() }),
                Err(_) => {
                    self.at(value.span(), format!("{what} is out of range"));
                    None
                }
            },
            other => {
                self.at(value.span(), format!("{what} must be a whole number, not {}", kind(other)));
                None
            }
        }
    }

    pub fn boolean(&mut self, table: &DeTable<'_>, key: &str) -> Option<At<bool>> {
        let value = get(table, key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(At { value: *b, span: value.span() }),
            other => {
                self.at(value.span(), format!("`{key}` must be true or false, not {}", kind(other)));
                None
            }
        }
    }

    pub fn string(&mut self, table: &DeTable<'_>, key: &str) -> Option<At<String>> {
        let value = get(table, key)?;
        self.as_string(value, &format!("`{key}`"))
    }

    fn as_string(&mut self, value: &Spanned<DeValue<'_>>, what: &str) -> Option<At<String>> {
        match value.get_ref() {
            DeValue::String(text) => Some(At { value: text.to_string(), span: value.span() }),
            other => {
                self.at(value.span(), format!("{what} must be a string, not {}", kind(other)));
                None
            }
        }
    }

    /// An array of whole numbers; a wrong element is reported and left out.
    pub fn integers(&mut self, table: &DeTable<'_>, key: &str) -> Option<At<Vec<At<i64>>>> {
        let (items, span) = self.array(table, key)?;
        let values =
            items.iter().filter_map(|item| self.as_integer(item, &format!("each of `{key}`"))).collect();
        Some(At { value: values, span })
    }

    /// A number (whole or decimal).
    fn as_number(&mut self, value: &Spanned<DeValue<'_>>, what: &str) -> Option<At<f64>> {
        let number = match value.get_ref() {
            DeValue::Integer(n) => i64::from_str_radix(n.as_str(), n.radix()).ok().map(|n| n as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            other => {
                self.at(value.span(), format!("{what} must be a number, not {}", kind(other)));
                return None;
            }
        };
        match number {
            Some(n) if n.is_finite() => Some(At { value: n, span: value.span() }),
            _ => {
                self.at(value.span(), format!("{what} must be a finite number"));
                None
            }
        }
    }

    /// An array of numbers; a wrong element is reported and left out.
    pub fn numbers(&mut self, table: &DeTable<'_>, key: &str) -> Option<At<Vec<At<f64>>>> {
        let (items, span) = self.array(table, key)?;
        let values =
            items.iter().filter_map(|item| self.as_number(item, &format!("each of `{key}`"))).collect();
        Some(At { value: values, span })
    }

    /// A whole number or an array of them (`connections = 50` or `[1000, 10000]`).
    pub fn integer_or_integers(&mut self, table: &DeTable<'_>, key: &str) -> Option<At<OneOrMany>> {
        let value = get(table, key)?;
        match value.get_ref() {
            DeValue::Array(_) => self
                .integers(table, key)
                .map(|list| At { span: list.span.clone(), value: OneOrMany::Many(list.value) }),
            _ => self.integer(table, key).map(|n| At { span: n.span.clone(), value: OneOrMany::One(n) }),
        }
    }

    /// An array of strings; a wrong element is reported and left out.
    pub fn strings(&mut self, table: &DeTable<'_>, key: &str) -> Option<At<Vec<At<String>>>> {
        let (items, span) = self.array(table, key)?;
        let values =
            items.iter().filter_map(|item| self.as_string(item, &format!("each of `{key}`"))).collect();
        Some(At { value: values, span })
    }

    fn array<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        key: &str,
    ) -> Option<(&'t [Spanned<DeValue<'i>>], Range<usize>)> {
        let value = get(table, key)?;
        match value.get_ref() {
            DeValue::Array(items) => Some((items.as_ref(), value.span())),
            other => {
                self.at(value.span(), format!("`{key}` must be an array, not {}", kind(other)));
                None
            }
        }
    }
}

/// A setting that may be one whole number or a list of them.
#[derive(Debug, Clone, PartialEq)]
pub enum OneOrMany {
    One(At<i64>),
    Many(Vec<At<i64>>),
}

/// The value of `key` in `table`.
pub fn get<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
    table.iter().find(|(k, _)| k.get_ref().as_ref() == key).map(|(_, v)| v)
}

/// A TOML value's kind, for messages: "a string", "an array".
fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// 1-based line and column (in characters) of byte `offset`.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_columns_count_characters() {
        assert_eq!(line_column("ab\ncdé\nx", 0), (1, 1));
        assert_eq!(line_column("ab\ncdé\nx", 3), (2, 1));
        assert_eq!(line_column("ab\ncdé\nx", 8), (3, 1));
        assert_eq!(line_column("ab\ncdé\nx", 7), (2, 4));
    }
}
